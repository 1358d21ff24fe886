package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// WorkloadBinding lets pods of one cluster, namespace and service account redeem a Workload's
// Eggs (they prove it with a projected ServiceAccount token). ServiceAccount "*" is any
// service account of the namespace.
type WorkloadBinding struct {
	// Cluster names a WorkloadCluster.
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`
	Cluster string `json:"cluster"`
	// Namespace is the pods' namespace.
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`
	Namespace string `json:"namespace"`
	// ServiceAccount is the pods' service account, or "*" for any.
	// +kubebuilder:validation:Pattern=`^(\*|[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?)$`
	ServiceAccount string `json:"serviceAccount"`
}

// WorkloadClusterSpec is a cluster whose ServiceAccount tokens the ROT verifies: its issuer,
// the audience, and the keys (JWKS) inline or from a URL.
// +kubebuilder:validation:XValidation:rule="has(self.jwks) != has(self.jwksURL)",message="set exactly one of jwks (the document of kubectl get --raw /openid/v1/jwks) or jwksURL"
// +kubebuilder:validation:XValidation:rule="!has(self.jwksCA) || has(self.jwksURL)",message="jwksCA is only for jwksURL"
type WorkloadClusterSpec struct {
	// Issuer is the cluster's ServiceAccount token issuer (kube-apiserver
	// --service-account-issuer; the iss of its tokens).
	// +kubebuilder:validation:MinLength=1
	Issuer string `json:"issuer"`
	// Audience is the audience the tokens must carry (seal-webhook --token-audience).
	// +kubebuilder:default=seal-rot
	// +optional
	Audience string `json:"audience,omitempty"`
	// JWKS is the cluster's JSON Web Key Set document (kubectl get --raw /openid/v1/jwks).
	// +optional
	JWKS string `json:"jwks,omitempty"`
	// JWKSURL is the https URL seal-rot fetches and refreshes the JWKS from.
	// +kubebuilder:validation:Pattern=`^https://`
	// +optional
	JWKSURL string `json:"jwksURL,omitempty"`
	// JWKSCA is the PEM of the CAs the JWKS URL's server certificate chains to (the system
	// roots when empty).
	// +optional
	JWKSCA string `json:"jwksCA,omitempty"`
}

// WorkloadClusterStatus reports the JWKS refresh (jwksURL).
type WorkloadClusterStatus struct {
	// LastRefreshed is when the JWKS was last fetched successfully.
	// +optional
	LastRefreshed *metav1.Time `json:"lastRefreshed,omitempty"`
	// LastError is the error of the last failed fetch, empty after a success; the last good
	// keys stay in use.
	// +optional
	LastError string `json:"lastError,omitempty"`
	// Conditions are the standard Kubernetes conditions; Ready=False names what failed.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// WorkloadCluster is a Kubernetes cluster whose pods may redeem the Eggs of Workloads bound to
// it (spec.bindings).
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=swc,categories=seal
// +kubebuilder:printcolumn:name="Issuer",type=string,JSONPath=`.spec.issuer`
// +kubebuilder:printcolumn:name="Audience",type=string,JSONPath=`.spec.audience`
// +kubebuilder:printcolumn:name="JWKS URL",type=string,JSONPath=`.spec.jwksURL`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Refreshed",type=date,JSONPath=`.status.lastRefreshed`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Message",type=string,priority=1,JSONPath=`.status.conditions[?(@.type=="Ready")].message`
type WorkloadCluster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec names the issuer and its keys.
	Spec WorkloadClusterSpec `json:"spec,omitempty"`
	// Status is written by seal-rot's JWKS refresher.
	Status WorkloadClusterStatus `json:"status,omitempty"`
}

// WorkloadClusterList is a list of WorkloadClusters.
//
// +kubebuilder:object:root=true
type WorkloadClusterList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []WorkloadCluster `json:"items"`
}
