package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BundleEndpointProfile says how a bundle endpoint authenticates itself.
// +kubebuilder:validation:XValidation:rule="self.type != 'https_spiffe' || has(self.endpointSPIFFEID)",message="endpointSPIFFEID is required for the https_spiffe profile"
type BundleEndpointProfile struct {
	// Type is https_spiffe (the endpoint's certificate is a SPIFFE SVID of the foreign trust
	// domain) or https_web (a WebPKI certificate).
	// +kubebuilder:validation:Enum=https_spiffe;https_web
	Type string `json:"type"`
	// EndpointSPIFFEID is the SPIFFE ID of the endpoint's server (https_spiffe).
	// +optional
	EndpointSPIFFEID string `json:"endpointSPIFFEID,omitempty"`
}

// FederatedTrustDomainSpec names a foreign trust domain and where to fetch its bundle.
// Field names follow spire-controller-manager's ClusterFederatedTrustDomain.
type FederatedTrustDomainSpec struct {
	// TrustDomain is the foreign SPIFFE trust domain, e.g. partner.example.com.
	// +kubebuilder:validation:Pattern=`^[a-z0-9._-]+$`
	TrustDomain string `json:"trustDomain"`
	// BundleEndpointURL is the https URL of the foreign SPIFFE bundle endpoint.
	// +kubebuilder:validation:Pattern=`^https://`
	// +optional
	BundleEndpointURL string `json:"bundleEndpointURL,omitempty"`
	// BundleEndpointProfile says how the bundle endpoint authenticates itself.
	// +optional
	BundleEndpointProfile *BundleEndpointProfile `json:"bundleEndpointProfile,omitempty"`
	// TrustDomainBundle is the initial (or offline) SPIFFE bundle JSON document.
	// +optional
	TrustDomainBundle string `json:"trustDomainBundle,omitempty"`
}

// FederatedTrustDomainStatus tells whether federation works.
type FederatedTrustDomainStatus struct {
	// LastRefreshed is when the bundle was last fetched successfully.
	// +optional
	LastRefreshed *metav1.Time `json:"lastRefreshed,omitempty"`
	// SequenceNumber is the spiffe_sequence of the bundle in use.
	// +optional
	SequenceNumber *uint64 `json:"sequenceNumber,omitempty"`
	// LastError is the error of the last failed refresh, empty after a success.
	// +optional
	LastError string `json:"lastError,omitempty"`
	// Conditions are the standard Kubernetes conditions; Ready=False names what failed.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// FederatedTrustDomain is a trust domain whose workloads this ROT's workloads may trust.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=sftd,categories=seal
// +kubebuilder:printcolumn:name="Trust Domain",type=string,JSONPath=`.spec.trustDomain`
// +kubebuilder:printcolumn:name="Endpoint",type=string,JSONPath=`.spec.bundleEndpointURL`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Refreshed",type=date,JSONPath=`.status.lastRefreshed`
// +kubebuilder:printcolumn:name="Message",type=string,priority=1,JSONPath=`.status.conditions[?(@.type=="Ready")].message`
type FederatedTrustDomain struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec names the trust domain and where its bundle comes from.
	Spec FederatedTrustDomainSpec `json:"spec,omitempty"`
	// Status is written by seal-rot's bundle refresher.
	Status FederatedTrustDomainStatus `json:"status,omitempty"`
}

// FederatedTrustDomainList is a list of FederatedTrustDomains.
//
// +kubebuilder:object:root=true
type FederatedTrustDomainList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []FederatedTrustDomain `json:"items"`
}
