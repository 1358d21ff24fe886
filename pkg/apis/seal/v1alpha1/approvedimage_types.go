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

// ApprovedImageStatus is reserved for future use.
type ApprovedImageStatus struct {
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// ApprovedImage approves one image by digest.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=sai
// +kubebuilder:printcolumn:name="Image",type=string,JSONPath=`.spec.image`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ApprovedImage struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ApprovedImageSpec   `json:"spec,omitempty"`
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
