package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupVersion is the API group and version of every Seal resource.
var GroupVersion = schema.GroupVersion{Group: "seal.dev", Version: "v1alpha1"}

var (
	// SchemeBuilder registers the Seal types with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)
	// AddToScheme adds the Seal types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&Workload{}, &WorkloadList{},
		&ImagePolicy{}, &ImagePolicyList{},
		&ApprovedImage{}, &ApprovedImageList{},
		&FederatedTrustDomain{}, &FederatedTrustDomainList{},
		&WorkloadCluster{}, &WorkloadClusterList{},
		&AttestationKey{}, &AttestationKeyList{}, &AttestationPolicy{}, &AttestationPolicyList{},
	)
	metav1AddToGroupVersion(s)
	return nil
}
