package webhook

import (
	"fmt"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	k8sjson "sigs.k8s.io/json"

	"github.com/seal-dev/seal/internal/inject"
)

// FuzzReadReview: whenever the API server's decoder (sigs.k8s.io/json, case-sensitive) reads
// a body as an AdmissionReview, readReview reads it too and agrees on every field /inject
// uses: apiVersion, uid, kind, namespace, operation, dryRun, and the object's fields Mutate
// reads (inject.DecodePod's, which FuzzDecodePod checks against a full corev1.Pod decode).
func FuzzReadReview(f *testing.F) {
	f.Add(review(testPod(map[string]string{inject.AnnotationWorkload: "payments"}), "shop"))
	f.Add(review(largePod(), "shop"))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1beta1","request":{"uid":"x","kind":{"kind":"Pod"},"operation":"CREATE","dryRun":true,"namespace":"shop","object":{"metadata":{"annotations":{"seal.dev/workload":"w"}},"spec":{"containers":[{"name":"a"}]}}}}`))
	f.Add([]byte(`{"request":{"uid":"x","kind":{"kind":"Deployment"},"operation":"CREATE","object":{"spec":{"containers":{}}}}}`))
	f.Add([]byte(`{"request":{"uid":"x","uid":null,"dryRun":null,"kind":null,"request":1},"request":{"namespace":"n"},"Request":{}}`))
	f.Add([]byte(`{"request":null}`))
	f.Add([]byte(`{"request":{"object":{"metadata":{"name":"a"}},"object":{"spec":{}}}}`))
	f.Add([]byte(`{"request":{"object":{"metadata":{"name":"a"}},"object":null}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var full admissionv1.AdmissionReview
		if err := k8sjson.UnmarshalCaseSensitivePreserveInts(body, &full); err != nil {
			return // the API server would not have sent it
		}
		rev, err := readReview(body)
		if err != nil {
			t.Fatalf("readReview: %v; the API server's decoder read it\n%s", err, body)
		}
		if rev.APIVersion != full.APIVersion || (rev.Request == nil) != (full.Request == nil) {
			t.Fatalf("apiVersion %q request %v, want %q %v", rev.APIVersion, rev.Request != nil, full.APIVersion, full.Request != nil)
		}
		if rev.Request == nil {
			return
		}
		q, w := rev.Request, full.Request
		got := fmt.Sprintf("%q %q %q %q %v", q.UID, q.Kind, q.Namespace, q.Operation, boolPtr(q.DryRun))
		want := fmt.Sprintf("%q %q %q %q %v", w.UID, w.Kind.Kind, w.Namespace, w.Operation, boolPtr(w.DryRun))
		if got != want {
			t.Fatalf("request %s, want %s", got, want)
		}
		pod, podErr := inject.DecodePod(w.Object.Raw)
		if len(w.Object.Raw) == 0 || string(w.Object.Raw) == "null" {
			pod, podErr = (&inject.PodJSON{}).Pod(), nil
		}
		if (podErr == nil) != (q.ObjectErr == nil) {
			t.Fatalf("object error %v, DecodePod says %v", q.ObjectErr, podErr)
		}
		if podErr == nil && !equality.Semantic.DeepEqual(q.Object.Pod(), pod) {
			t.Fatalf("object\n%+v\nwant %+v", q.Object.Pod(), pod)
		}
	})
}

func boolPtr(b *bool) string {
	if b == nil {
		return "nil"
	}
	return fmt.Sprint(*b)
}

// FuzzReadRequestReview: whenever the API server's decoder reads a body as an
// AdmissionReview, the reader behind Admission (/pin, /verify) reads it too and agrees on
// every field it copies into the admission.Request, object and oldObject byte for byte.
func FuzzReadRequestReview(f *testing.F) {
	f.Add(review(testPod(map[string]string{inject.AnnotationWorkload: "payments"}), "shop"))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","request":{"uid":"x","kind":{"group":"apps","version":"v1","kind":"Deployment"},"resource":{"group":"apps","version":"v1","resource":"deployments"},"subResource":"scale","name":"d","namespace":"n","operation":"UPDATE","userInfo":{"username":"u","groups":["a"]},"object": {"spec":{}} ,"oldObject":null,"dryRun":false,"options":{}}}`))
	f.Add([]byte(`{"request":{"object":{"a":1},"object":[1],"kind":null,"dryRun":true,"dryRun":null}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var full admissionv1.AdmissionReview
		if err := k8sjson.UnmarshalCaseSensitivePreserveInts(body, &full); err != nil {
			return // the API server would not have sent it
		}
		apiVersion, req, err := readRequestReview(body)
		if err != nil {
			t.Fatalf("readRequestReview: %v; the API server's decoder read it\n%s", err, body)
		}
		if apiVersion != full.APIVersion || (req == nil) != (full.Request == nil) {
			t.Fatalf("apiVersion %q request %v, want %q %v", apiVersion, req != nil, full.APIVersion, full.Request != nil)
		}
		if req == nil {
			return
		}
		q, w := req.AdmissionRequest, *full.Request
		view := func(r admissionv1.AdmissionRequest) string {
			return fmt.Sprintf("%q %v %v %q %q %q %q %v %q %q", r.UID, r.Kind, r.Resource, r.SubResource, r.Name, r.Namespace, r.Operation,
				boolPtr(r.DryRun), r.Object.Raw, r.OldObject.Raw)
		}
		if got, want := view(q), view(w); got != want {
			t.Fatalf("request\n%s\nwant %s", got, want)
		}
	})
}

// BenchmarkReadReview: reading what /inject needs of the small and the 76 KB pod's review.
func BenchmarkReadReview(b *testing.B) {
	for _, tc := range []struct {
		name string
		body []byte
	}{{"small", review(smallPod(), "shop")}, {"large", review(largePod(), "shop")}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(tc.body)))
			for b.Loop() {
				if rev, err := readReview(tc.body); err != nil || rev.Request == nil || rev.Request.ObjectErr != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
