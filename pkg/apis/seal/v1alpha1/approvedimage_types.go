package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ApprovedImageSpec pins one exact image as approved.
type ApprovedImageSpec struct {
	// Image is a full reference with a digest, e.g. registry.example.com/app@sha256:<64 hex>.
	// +kubebuilder:validation:XValidation:rule="self.matches('^[^@]+@sha256:[a-f0-9]{64}$')",message="image must carry a @sha256: digest (name@sha256:<64 hex digits>)"
	Image string `json:"image"`
}

// ApprovedImageStatus is what a controller observed of the approval. Seal does not write it yet
// (seal-webhook reads ApprovedImages and never updates them); the type is served so that a later
// controller, or an admin's tooling, can report on it without a CRD change.
type ApprovedImageStatus struct {
	// ObservedGeneration is the generation the status was written for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions are the standard Kubernetes conditions; Ready says the approval is in use.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// ApprovedImage approves one image by digest.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=sai,categories=seal
// +kubebuilder:printcolumn:name="Image",type=string,JSONPath=`.spec.image`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Message",type=string,priority=1,JSONPath=`.status.conditions[?(@.type=="Ready")].message`
type ApprovedImage struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the image approved.
	Spec ApprovedImageSpec `json:"spec,omitempty"`
	// Status is what a controller observed (not written by Seal yet).
	Status ApprovedImageStatus `json:"status,omitempty"`
}

// ApprovedImageList is a list of ApprovedImages.
//
// +kubebuilder:object:root=true
type ApprovedImageList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ApprovedImage `json:"items"`
}
