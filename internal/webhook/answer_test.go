package webhook

import (
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

func marshalReview(t testing.TB, apiVersion string, r *admissionv1.AdmissionResponse) string {
	b, err := json.Marshal(&admissionv1.AdmissionReview{TypeMeta: metav1.TypeMeta{APIVersion: apiVersion, Kind: "AdmissionReview"}, Response: r})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestAppendReviewIsJSON: the hand-built answer is json.Marshal's, byte for byte, for every
// answer the handler gives (allowed, denied, errored, patched, with warnings, escaped text).
func TestAppendReviewIsJSON(t *testing.T) {
	patched := admission.Response{AdmissionResponse: admissionv1.AdmissionResponse{Allowed: true, Patch: []byte(`[{"op":"add"}]`), PatchType: &jsonPatch, Warnings: []string{"a <b> & \"c\"", "\u2028\xff"}}}
	for name, resp := range map[string]admission.Response{
		"allowed":  admission.Allowed("seal: not a pod creation"),
		"denied":   admission.Denied("seal: workload \"Bad\" is not a DNS label; fix: rename it"),
		"errored":  admission.Errored(http.StatusBadRequest, errors.New("seal: <bad> \x01 body")),
		"patched":  patched,
		"typed":    {AdmissionResponse: admissionv1.AdmissionResponse{Result: &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: "Failure"}}},
		"noresult": {},
	} {
		r := resp.AdmissionResponse
		r.UID = "u-1\"2"
		b, ok := appendReview(nil, "admission.k8s.io/v1", &r)
		if want := marshalReview(t, "admission.k8s.io/v1", &r); !ok || string(b) != want {
			t.Errorf("%s: appendReview = %v\n%s\nwant %s", name, ok, b, want)
		}
	}
	details := admissionv1.AdmissionResponse{Result: &metav1.Status{Details: &metav1.StatusDetails{Name: "x"}}}
	if _, ok := appendReview(nil, "admission.k8s.io/v1", &details); ok {
		t.Error("appendReview encoded status details, want the json.Marshal fallback")
	}
}

// FuzzAppendReview: any text in the answer encodes as json.Marshal does.
func FuzzAppendReview(f *testing.F) {
	f.Add("u", "msg", "warn", []byte("patch"), true, int32(200))
	f.Add("\xff<", "\u2028&>", "\\\"", []byte{}, false, int32(-1))
	f.Fuzz(func(t *testing.T, uid, msg, warn string, patch []byte, allowed bool, code int32) {
		r := admissionv1.AdmissionResponse{Allowed: allowed, Patch: patch, Warnings: []string{warn},
			Result: &metav1.Status{Message: msg, Reason: metav1.StatusReason(warn), Code: code}}
		r.UID = types.UID(uid)
		b, ok := appendReview(nil, "admission.k8s.io/v1beta1", &r)
		if want := marshalReview(t, "admission.k8s.io/v1beta1", &r); !ok || string(b) != want {
			t.Fatalf("appendReview\n%s\nwant %s", b, want)
		}
	})
}
