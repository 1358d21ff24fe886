package webhook

import (
	corev1 "k8s.io/api/core/v1"
)

// ReasonRefused is the Event reason when a pod's injection is refused.
const ReasonRefused = "SealInjectionRefused"

// eventTarget is the pod's controlling owner (a ReplicaSet, Job, ...), where its users look
// when pods fail to appear, or else the pod itself.
func eventTarget(pod *corev1.Pod, namespace string) *corev1.ObjectReference {
	for _, o := range pod.OwnerReferences {
		if o.Controller != nil && *o.Controller {
			return &corev1.ObjectReference{APIVersion: o.APIVersion, Kind: o.Kind, Name: o.Name, UID: o.UID, Namespace: namespace}
		}
	}
	name := pod.Name
	if name == "" {
		name = pod.GenerateName
	}
	return &corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Name: name, UID: pod.UID, Namespace: namespace}
}
