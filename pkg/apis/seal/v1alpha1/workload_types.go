package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// WorkloadSpec is the policy of one workload: which peers exist, how long their certificates
// live, which trust domains they federate with and which extra hostnames they may carry.
type WorkloadSpec struct {
	// Peers are the roles inside the workload. Empty means the single peer "any".
	// +optional
	// +listType=set
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`
	Peers []string `json:"peers,omitempty"`

	// CertTTL is the lifetime of pod certificates. Default 24h.
	// +optional
	CertTTL *metav1.Duration `json:"certTTL,omitempty"`

	// FederatesWith lists the trust domains whose bundles pods of this workload receive.
	// +optional
	// +listType=set
	FederatesWith []string `json:"federatesWith,omitempty"`

	// RouteHosts are the extra DNS SANs (passthrough route hostnames) pods may ask for.
	// +optional
	// +listType=set
	RouteHosts []string `json:"routeHosts,omitempty"`

	// Bindings are the (cluster, namespace, service account) whose pods may redeem this
	// Workload's Eggs, proving it with a projected ServiceAccount token. Empty: the Egg alone
	// redeems.
	// +optional
	// +listType=atomic
	Bindings []WorkloadBinding `json:"bindings,omitempty"`
	// Attest names the AttestationPolicy whose reference values a pod's TPM quote must match
	// before the ROT releases the certificate and data keys. Empty: no attestation.
	// +optional
	Attest string `json:"attest,omitempty"`
}

// WorkloadStatus is what the ROT reconciled for a workload.
type WorkloadStatus struct {
	// CAFingerprint is the SHA-256 fingerprint (hex) of the current Workload CA certificate.
	// +optional
	CAFingerprint string `json:"caFingerprint,omitempty"`
	// DataKeyIndex is the index of the current age data key.
	// +optional
	DataKeyIndex int32 `json:"dataKeyIndex,omitempty"`
	// ObservedGeneration is the generation the ROT last reconciled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions are the standard Kubernetes conditions; Ready=False names what is wrong.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Workload is a named group of pods that trust each other, with its own CA and data keys.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=swl,categories=seal
// +kubebuilder:printcolumn:name="Peers",type=string,JSONPath=`.spec.peers`
// +kubebuilder:printcolumn:name="Cert TTL",type=string,JSONPath=`.spec.certTTL`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Message",type=string,priority=1,JSONPath=`.status.conditions[?(@.type=="Ready")].message`
// +kubebuilder:printcolumn:name="Bindings",type=string,priority=1,JSONPath=`.spec.bindings[*].namespace`
type Workload struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the workload's policy, written by sealctl or kubectl.
	Spec WorkloadSpec `json:"spec,omitempty"`
	// Status is written by seal-rot.
	Status WorkloadStatus `json:"status,omitempty"`
}

// WorkloadList is a list of Workloads.
//
// +kubebuilder:object:root=true
type WorkloadList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Workload `json:"items"`
}
