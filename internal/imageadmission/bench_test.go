package imageadmission_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/seal-dev/seal/internal/imageadmission"
	"github.com/seal-dev/seal/internal/testing/testenv"
	"github.com/seal-dev/seal/internal/verify"
	"github.com/seal-dev/seal/internal/webhook"
	sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"
)

// BenchmarkImageReview is the cost of the /pin and /verify reviews of a pod creation in an
// enforced namespace, through the handlers the webhook serves (the review read in one pass,
// the answer written), for a pod of one container whose image an ApprovedImage names by digest:
// what every pod creation in such a namespace costs besides the transport.
// Run: go test -run '^$' -bench ImageReview -benchmem ./internal/imageadmission/
func BenchmarkImageReview(b *testing.B) {
	const image = "registry.example.com/shop/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	// The namespace's labels come from an informer cache of a real API server, as in
	// seal-webhook (a fake client's JSON round trips would cost more than the review).
	env := testenv.Start(b, testenv.Options{NoControllerManager: true})
	ns := env.Namespace(b, map[string]string{sealv1.LabelEnforce: "true"})
	c := env.StartCache(b, nil, &corev1.Namespace{})
	v, err := verify.New(verify.Options{Policies: &verify.StaticPolicies{
		Approved: []sealv1.ApprovedImage{{ObjectMeta: metav1.ObjectMeta{Name: "app"}, Spec: sealv1.ApprovedImageSpec{Image: image}}}}})
	if err != nil {
		b.Fatal(err)
	}
	pin, check := imageadmission.New(c, v, imageadmission.Options{Logger: quiet})
	pod, _ := json.Marshal(&corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: ns},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}, {Name: "proxy", Image: image}}}})
	body, _ := json.Marshal(&admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{UID: "u", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Namespace: ns, Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: pod}}})
	for _, bc := range []struct {
		name string
		h    http.Handler
	}{{"pin", webhook.Admission(pin, quiet)}, {"verify", webhook.Admission(check, quiet)}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r := httptest.NewRequest(http.MethodPost, "/"+bc.name, bytes.NewReader(body))
				r.Header.Set("Content-Type", "application/json")
				w := httptest.NewRecorder()
				bc.h.ServeHTTP(w, r)
				if !strings.Contains(w.Body.String(), `"allowed":true`) {
					b.Fatalf("%s: %s", bc.name, w.Body)
				}
			}
		})
	}
}
