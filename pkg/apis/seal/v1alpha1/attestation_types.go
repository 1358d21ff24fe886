package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AttestationKeySpec is a registered TPM 2.0 attestation key: a machine whose quotes this
// key signs may redeem Eggs of Workloads with an attestation policy.
type AttestationKeySpec struct {
	// AKPub is the PEM (PKIX) public key of the attestation key, as
	// `seal-init attest enroll` prints it.
	// +kubebuilder:validation:Pattern=`^-----BEGIN PUBLIC KEY-----`
	AKPub string `json:"akPub"`
}

// AttestationKeyStatus is what the ROT found in the key.
type AttestationKeyStatus struct {
	// Fingerprint is the SHA-256 (hex) of the key's PKIX DER, as refusals name an unknown AK.
	// +optional
	Fingerprint string `json:"fingerprint,omitempty"`
	// Conditions: Ready=False (reason InvalidKey) says why the ROT does not use the key.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// AttestationKey registers a machine's TPM attestation key (the trusted execution clusters'
// AttestationKey).
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=sak,categories=seal
// +kubebuilder:printcolumn:name="Fingerprint",type=string,JSONPath=`.status.fingerprint`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Message",type=string,priority=1,JSONPath=`.status.conditions[?(@.type=="Ready")].message`
type AttestationKey struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the attestation key, written by sealctl or kubectl.
	Spec AttestationKeySpec `json:"spec"`
	// Status is written by seal-rot.
	// +optional
	Status AttestationKeyStatus `json:"status,omitempty"`
}

// AttestationKeyList is a list of AttestationKeys.
//
// +kubebuilder:object:root=true
type AttestationKeyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AttestationKey `json:"items"`
}

// AttestationPolicySpec holds reference values: the PCR values a machine must quote.
type AttestationPolicySpec struct {
	// PCRs maps a PCR index ("0".."23") to its expected SHA-256 bank value (64 hex digits).
	// +kubebuilder:validation:MinProperties=1
	PCRs map[string]string `json:"pcrs"`
}

// AttestationPolicyStatus is what the ROT found in the policy.
type AttestationPolicyStatus struct {
	// Conditions: Ready=False (reason InvalidPolicy) says why the ROT refuses the Workloads
	// naming the policy.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// AttestationPolicy is a set of reference values a Workload (spec.attest) requires.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=sap,categories=seal
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Message",type=string,priority=1,JSONPath=`.status.conditions[?(@.type=="Ready")].message`
type AttestationPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec holds the reference values, written by sealctl or kubectl.
	Spec AttestationPolicySpec `json:"spec"`
	// Status is written by seal-rot.
	// +optional
	Status AttestationPolicyStatus `json:"status,omitempty"`
}

// AttestationPolicyList is a list of AttestationPolicies.
//
// +kubebuilder:object:root=true
type AttestationPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AttestationPolicy `json:"items"`
}
