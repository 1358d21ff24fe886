package inject

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func BenchmarkMutate3Containers(b *testing.B) {
	p := goldenCases()[0].pod
	cfg := testConfig
	b.ReportAllocs()
	for b.Loop() {
		if res, err := Mutate(p, enabledNS, &cfg); err != nil || res.Patch == nil {
			b.Fatal(err)
		}
	}
}

// largePod is a pod of about 64 KiB: 3 containers with 500 env vars each.
func largePod() *corev1.Pod {
	p := pod(map[string]string{AnnotationWorkload: "payments"}, "app", "shop/app:1", "proxy", "envoy:1", "log", "fluent:1")
	for c := range p.Spec.Containers {
		for i := range 500 {
			p.Spec.Containers[c].Env = append(p.Spec.Containers[c].Env, corev1.EnvVar{Name: fmt.Sprintf("VAR_%04d", i), Value: "v"})
		}
	}
	return p
}

func BenchmarkMutateLargePod(b *testing.B) {
	p := largePod()
	cfg := testConfig
	b.ReportAllocs()
	for b.Loop() {
		if res, err := Mutate(p, enabledNS, &cfg); err != nil || res.Patch == nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMutateRotateLargePod: the native sidecar with its exec probes, on the 64 KiB pod.
func BenchmarkMutateRotateLargePod(b *testing.B) {
	p := largePod()
	p.Annotations[AnnotationRotate] = "true"
	p.Spec.HostNetwork = true
	cfg := testConfig
	b.ReportAllocs()
	for b.Loop() {
		if res, err := Mutate(p, enabledNS, &cfg); err != nil || res.Patch == nil {
			b.Fatal(err)
		}
	}
}
