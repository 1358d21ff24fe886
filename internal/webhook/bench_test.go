package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/seal-dev/seal/internal/inject"
	"github.com/seal-dev/seal/internal/testing/testenv"
)

// BenchmarkAdmissionHTTPS: injection reviews through the real handler over real TLS, from
// hack/loadgen in a separate process (32 keep-alive connections), of the small pod (3
// containers, 1.4 KB) and of issue 17's large pod (1 container with 1,500 env vars, 76 KB). It
// reports reviews/s and the CPU time of this process, the server alone, per review
// (cpu-µs/review). Goal: large ≤ 300 cpu-µs/review and ≤ 2× small. The transport-only cases
// post the same bodies to a handler on the same server that reads the body and answers a fixed
// review: what TLS and HTTP cost the server, without the review. With -cpuprofile the profile
// is the server's.
func BenchmarkAdmissionHTTPS(b *testing.B) {
	const pathTransport = "/transport-only"
	answer := []byte(`{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","response":{"uid":"u","allowed":true,"status":{"metadata":{},"code":200}}}`)
	r := start(b, map[string]http.Handler{pathTransport: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(answer)
	})})
	small, large := review(smallPod(), "shop"), review(largePod(), "shop")
	for _, tc := range []struct {
		name, path string
		body       []byte
	}{{"small", PathInject, small}, {"large", PathInject, large}, {"small-transport-only", pathTransport, small}, {"large-transport-only", pathTransport, large}} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(tc.body)))
			b.ReportAllocs()
			var cpu0 time.Duration
			res := testenv.RunLoad(b, testenv.Load{URL: r.url + tc.path, CAFile: r.caFile, Body: tc.body, Conns: 32, Requests: b.N},
				func() { b.ResetTimer(); cpu0 = cpuTime() })
			cpu := cpuTime() - cpu0
			b.StopTimer()
			b.ReportMetric(res.PerSecond, "reviews/s")
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/review")
			b.ReportMetric(res.CPUMicrosPerRequest, "loadgen-cpu-µs/review")
		})
	}
}

// smallPod has 3 containers (1.4 KB of review).
func smallPod() *corev1.Pod {
	pod := testPod(map[string]string{inject.AnnotationWorkload: "payments"})
	pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: "proxy", Image: "envoy:1"}, corev1.Container{Name: "log", Image: "fluent:1"})
	return pod
}

// largePod is issue 17's 76 KB pod: one container with 1,500 env vars.
func largePod() *corev1.Pod {
	pod := testPod(map[string]string{inject.AnnotationWorkload: "payments"})
	for i := range 1500 {
		pod.Spec.Containers[0].Env = append(pod.Spec.Containers[0].Env, corev1.EnvVar{Name: fmt.Sprintf("SETTING_%04d", i), Value: strings.Repeat("v", 20)})
	}
	return pod
}

// cpuTime is the user+system CPU time of this process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// FuzzAdmissionReview: no request body makes the handler panic, and every patch it answers
// applies to the reviewed object and leaves a Pod.
func FuzzAdmissionReview(f *testing.F) {
	f.Add(review(testPod(map[string]string{inject.AnnotationWorkload: "payments"}), "shop"))
	f.Add(review(testPod(map[string]string{inject.AnnotationWorkload: "payments", inject.AnnotationEgg: "image:/egg", inject.AnnotationRotate: "true"}), "shop"))
	f.Add(review(testPod(map[string]string{inject.AnnotationWorkload: "Bad"}), "shop"))
	f.Add([]byte(`{"request":{"uid":"x","kind":{"kind":"Pod"},"operation":"CREATE","namespace":"shop","object":{"metadata":{"annotations":{"seal.dev/workload":"w"}},"spec":{"containers":[{"name":"a"}]}}}}`))
	f.Add([]byte(`{"request":null}`))
	f.Add([]byte(`[]`))
	h := newManager(f, ServerOptions{Log: slog.New(slog.DiscardHandler)}, Options{Registry: promRegistry()}).GetWebhookServer().WebhookMux()
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, PathInject, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		var ar admissionv1.AdmissionReview
		if err := json.Unmarshal(w.Body.Bytes(), &ar); err != nil || ar.Response == nil {
			t.Fatalf("answer is not an AdmissionReview: %v %s", err, w.Body.Bytes())
		}
		if len(ar.Response.Patch) == 0 {
			return
		}
		var in admissionv1.AdmissionReview
		if err := json.Unmarshal(body, &in); err != nil || in.Request == nil {
			t.Fatalf("patch for an undecodable review: %s", body)
		}
		p, err := jsonpatch.DecodePatch(ar.Response.Patch)
		if err != nil {
			t.Fatal(err)
		}
		out, err := p.Apply(in.Request.Object.Raw)
		if err != nil {
			t.Fatalf("patch does not apply: %v\n%s", err, ar.Response.Patch)
		}
		var pod corev1.Pod
		if err := json.Unmarshal(out, &pod); err != nil {
			t.Fatalf("patched object is not a Pod: %v", err)
		}
	})
}

func promRegistry() *prometheus.Registry { return prometheus.NewRegistry() }

// BenchmarkAdmissionLatencyAt1000 sends injection reviews over TLS keep-alive at a steady 1,000
// per second (open loop: a slow answer does not delay the next request) and reports the
// latency percentiles. The goal is p99 under 5 ms.
func BenchmarkAdmissionLatencyAt1000(b *testing.B) {
	r := start(b, nil)
	pod := testPod(map[string]string{inject.AnnotationWorkload: "payments"})
	pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: "proxy", Image: "envoy:1"}, corev1.Container{Name: "log", Image: "fluent:1"})
	body := review(pod, "shop")
	send := func() time.Duration {
		t0 := time.Now()
		req, _ := http.NewRequest(http.MethodPost, r.url+PathInject, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := r.client.Do(req)
		if err != nil {
			b.Error(err)
			return 0
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return time.Since(t0)
	}
	for range 200 { // warm the connections
		send()
	}
	lat := make([]time.Duration, b.N)
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		time.Sleep(time.Until(start.Add(time.Duration(i) * time.Millisecond)))
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			lat[i] = send()
		}()
	}
	wg.Wait()
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.90), "p90-ms")
	b.ReportMetric(pct(0.95), "p95-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}
