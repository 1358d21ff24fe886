package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/seal-dev/seal/internal/inject"
)

// TestConcurrentReviewsDoNotMix: reviews of different tenants' pods, run at once through the
// handler's pooled buffers and Pods, each get exactly the answer their own pod gets from
// inject.Mutate on a fresh decode: nothing of one review shows in another's (run with -race).
func TestConcurrentReviewsDoNotMix(t *testing.T) {
	h := newManager(t, ServerOptions{Log: slog.New(slog.DiscardHandler)}, Options{Registry: promRegistry()}).GetWebhookServer().WebhookMux()
	big := testPod(map[string]string{inject.AnnotationWorkload: "tenant-a", inject.AnnotationPeer: "api"})
	big.Labels = map[string]string{"team": "a"}
	for i := range 40 {
		big.Spec.Containers = append(big.Spec.Containers, corev1.Container{Name: fmt.Sprintf("c%d", i), Image: fmt.Sprintf("a/img:%d", i),
			Env: []corev1.EnvVar{{Name: "A", Value: "secret-a"}}, VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: fmt.Sprintf("/a/%d", i)}}})
	}
	big.Spec.Volumes = []corev1.Volume{{Name: "data"}, {Name: "more"}}
	withInit := testPod(map[string]string{inject.AnnotationWorkload: "tenant-b"})
	withInit.Spec.InitContainers = []corev1.Container{{Name: "migrate", Image: "b/migrate:1"}}
	small := smallPod()
	refused := testPod(map[string]string{inject.AnnotationWorkload: "Bad_Name"})
	pods := []*corev1.Pod{big, withInit, small, refused}

	cfg := testInject.WithDefaults()
	bodies, want := make([][]byte, len(pods)), make([]string, len(pods))
	for i, p := range pods {
		bodies[i] = review(p, "shop")
		raw, _ := json.Marshal(p)
		fresh, err := inject.DecodePod(raw)
		if err != nil {
			t.Fatal(err)
		}
		res, err := inject.Mutate(fresh, inject.Namespace{Name: "shop", Labels: testNamespaces["shop"]}, &cfg)
		want[i] = string(res.Patch)
		if (err != nil) != (p == refused) || (p != refused && res.Patch == nil) {
			t.Fatalf("pod %d: Mutate = %v, %q; want a patch (or a refusal for the last)", i, err, res.Skipped)
		}
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for n := range 150 {
				i := (g + n) % len(pods)
				req := httptest.NewRequest(http.MethodPost, PathInject, bytes.NewReader(bodies[i]))
				req.Header.Set("Content-Type", "application/json")
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				var ar admissionv1.AdmissionReview
				if err := json.Unmarshal(w.Body.Bytes(), &ar); err != nil || ar.Response == nil {
					t.Errorf("pod %d: answer is not a review: %v %s", i, err, w.Body.Bytes())
					return
				}
				if got := string(ar.Response.Patch); got != want[i] || ar.Response.Allowed != (pods[i] != refused) {
					t.Errorf("pod %d: allowed %v, patch\n%s\nwant the pod's own\n%s", i, ar.Response.Allowed, got, want[i])
					return
				}
			}
		})
	}
	wg.Wait()
}
