// Package v1alpha1 holds the seal.dev/v1alpha1 custom resources: Workload, ImagePolicy,
// ApprovedImage and FederatedTrustDomain. All are cluster-scoped.
//
// +kubebuilder:object:generate=true
// +groupName=seal.dev
package v1alpha1
