package inject

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Defaults of seal-init's settings, shared by seal-webhook's flags and `sealctl inject`, so the
// two inject the same container.
const (
	DefaultBinary        = "/seal-init"
	DefaultAgentBinary   = "/seal-agent"
	DefaultCPURequest    = "10m"
	DefaultMemoryRequest = "16Mi"
	DefaultMemoryLimit   = "64Mi"
)

// ParseResources returns seal-init's resources from the quantities of the --init-cpu-request,
// --init-memory-request and --init-memory-limit flags (an empty one is left unset); an error
// names the flag.
func ParseResources(cpuRequest, memRequest, memLimit string) (corev1.ResourceRequirements, error) {
	res := corev1.ResourceRequirements{Requests: corev1.ResourceList{}, Limits: corev1.ResourceList{}}
	for _, q := range []struct {
		flag, val string
		list      corev1.ResourceList
		name      corev1.ResourceName
	}{
		{"--init-cpu-request", cpuRequest, res.Requests, corev1.ResourceCPU},
		{"--init-memory-request", memRequest, res.Requests, corev1.ResourceMemory},
		{"--init-memory-limit", memLimit, res.Limits, corev1.ResourceMemory},
	} {
		if q.val == "" {
			continue
		}
		v, err := resource.ParseQuantity(q.val)
		if err != nil {
			return res, fmt.Errorf("bad %s %q: %v", q.flag, q.val, err)
		}
		q.list[q.name] = v
	}
	return res, nil
}
