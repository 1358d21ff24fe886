package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func metav1AddToGroupVersion(s *runtime.Scheme) { metav1.AddToGroupVersion(s, GroupVersion) }

// Condition types written in the status of Seal resources.
const (
	// ConditionReady is True when the resource is fully reconciled and usable.
	ConditionReady = "Ready"
)
