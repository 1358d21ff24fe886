package main_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/seal-dev/seal/internal/inject"
	"github.com/seal-dev/seal/internal/testing/testenv"
)

// largeReviewBody is issue 17's 76 KB pod (one container, 1,500 env vars) in a review.
func largeReviewBody(ns string) []byte {
	pod := corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{GenerateName: "web-", Annotations: map[string]string{inject.AnnotationWorkload: "payments"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "shop/app:1"}}},
	}
	for i := range 1500 {
		pod.Spec.Containers[0].Env = append(pod.Spec.Containers[0].Env, corev1.EnvVar{Name: fmt.Sprintf("SETTING_%04d", i), Value: strings.Repeat("v", 20)})
	}
	raw, _ := json.Marshal(&pod)
	b, _ := json.Marshal(&admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{UID: "u", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Namespace: ns, Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw}},
	})
	return b
}

// BenchmarkProcessLoad is issue 17's process-level comparison: hack/loadgen, a separate
// process, loads the real seal-webhook process over 32 keep-alive HTTPS connections with the
// small pod (3 containers) and the 76 KB pod. Each reports reviews/s, the latency percentiles
// and the webhook process's own CPU time per review (utime+stime from /proc, so other load on
// the machine does not count). SEAL_WEBHOOK_BINARY runs another build (an earlier commit's)
// under the same load, for a before/after comparison.
// Run: go test -run '^$' -bench ProcessLoad -benchtime 20000x ./cmd/webhook/
func BenchmarkProcessLoad(b *testing.B) {
	env := testenv.Start(b, testenv.Options{NoControllerManager: true})
	ns := env.Namespace(b, map[string]string{inject.LabelInject: inject.NamespaceEnabled})
	p := startWebhook(b, env)
	for _, tc := range []struct {
		name string
		body []byte
	}{{"small", reviewBody(ns)}, {"large", largeReviewBody(ns)}} {
		b.Run(tc.name, func(b *testing.B) {
			var cpu0 time.Duration
			b.SetBytes(int64(len(tc.body)))
			r := testenv.RunLoad(b, testenv.Load{URL: p.url + "/inject", CAFile: p.caFile, Body: tc.body, Conns: 32, Requests: b.N},
				func() { b.ResetTimer(); cpu0 = procCPU(b, p.cmd.Process.Pid) })
			cpu := procCPU(b, p.cmd.Process.Pid) - cpu0
			b.StopTimer()
			b.ReportMetric(r.PerSecond, "reviews/s")
			b.ReportMetric(r.P50Ms, "p50-ms")
			b.ReportMetric(r.P99Ms, "p99-ms")
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "server-cpu-µs/review")
			b.ReportMetric(r.CPUMicrosPerRequest, "loadgen-cpu-µs/review")
		})
	}
}

// procCPU is the user+system CPU time of process pid.
func procCPU(b *testing.B, pid int) time.Duration {
	d, err := testenv.ProcCPU(pid)
	if err != nil {
		b.Fatal(err)
	}
	return d
}
