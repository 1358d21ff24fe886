package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

// BenchmarkProcessLoad is issue 17's process-level comparison: 32 keep-alive HTTPS clients in
// the test process load the real seal-webhook process with the small pod (3 containers) and
// the 76 KB pod. Each reports reviews/s, the latency percentiles and the webhook process's own
// CPU time per review (utime+stime from /proc, so other load on the machine does not count).
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
			const clients = 32
			send := func() (time.Duration, error) {
				t0 := time.Now()
				resp, err := p.client.Post(p.url+"/inject", "application/json", bytes.NewReader(tc.body))
				if err != nil {
					return 0, err
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					return 0, fmt.Errorf("status %d", resp.StatusCode)
				}
				return time.Since(t0), nil
			}
			for range 2 * clients { // warm the connections
				if _, err := send(); err != nil {
					b.Fatal(err)
				}
			}
			lat := make([]time.Duration, b.N)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.SetBytes(int64(len(tc.body)))
			b.ResetTimer()
			start, cpu0 := time.Now(), procCPU(b, p.cmd.Process.Pid)
			for range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := next.Add(1) - 1; i < int64(b.N); i = next.Add(1) - 1 {
						d, err := send()
						if err != nil {
							b.Error(err)
							return
						}
						lat[i] = d
					}
				}()
			}
			wg.Wait()
			elapsed, cpu := time.Since(start), procCPU(b, p.cmd.Process.Pid)-cpu0
			b.StopTimer()
			slices.Sort(lat)
			pct := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000 }
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "reviews/s")
			b.ReportMetric(pct(0.50), "p50-ms")
			b.ReportMetric(pct(0.99), "p99-ms")
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "server-cpu-µs/review")
		})
	}
}

// procCPU is the user+system CPU time of process pid (/proc/PID/stat, in clock ticks of 10 ms).
func procCPU(b *testing.B, pid int) time.Duration {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}
