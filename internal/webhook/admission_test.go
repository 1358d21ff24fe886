package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// TestAdmission: a handler served by Admission sees the request's fields and the object as
// sent, and its answer (a patch computed from the object, a panic) reaches the API server as
// admission.Webhook would give it.
func TestAdmission(t *testing.T) {
	var seen admission.Request
	h := Admission(admission.HandlerFunc(func(_ context.Context, req admission.Request) admission.Response {
		if req.Name == "boom" {
			panic("boom")
		}
		seen = req
		return admission.PatchResponseFromRaw(req.Object.Raw, []byte(`{"spec":{"containers":[{"name":"a","image":"x@sha256:00"}]}}`))
	}), slog.New(slog.DiscardHandler))
	post := func(body string) *admissionv1.AdmissionReview {
		t.Helper()
		r := httptest.NewRequest(http.MethodPost, "/pin", bytes.NewReader([]byte(body)))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		var ar admissionv1.AdmissionReview
		if err := json.Unmarshal(w.Body.Bytes(), &ar); err != nil || ar.Response == nil {
			t.Fatalf("answer is not an AdmissionReview: %v %s", err, w.Body.Bytes())
		}
		return &ar
	}
	obj := `{"spec":{"containers":[{"name":"a","image":"x","env":[{"name":"A","value":"b"}]}]}}`
	ar := post(`{"apiVersion":"admission.k8s.io/v1beta1","request":{"uid":"u1","kind":{"group":"apps","version":"v1","kind":"Pod"},"name":"p","namespace":"shop","operation":"CREATE","userInfo":{"username":"me"},"object":` + obj + `,"dryRun":true}}`)
	if ar.APIVersion != "admission.k8s.io/v1beta1" || ar.Response.UID != "u1" || !ar.Response.Allowed {
		t.Fatalf("answer %s %s allowed %v, want v1beta1 u1 allowed", ar.APIVersion, ar.Response.UID, ar.Response.Allowed)
	}
	if seen.Namespace != "shop" || seen.Kind.Kind != "Pod" || seen.Operation != admissionv1.Create || seen.DryRun == nil || !*seen.DryRun || string(seen.Object.Raw) != obj {
		t.Errorf("handler saw %+v, want the review's request", seen.AdmissionRequest)
	}
	p, err := jsonpatch.DecodePatch(ar.Response.Patch)
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Apply([]byte(obj))
	if err != nil || !bytes.Contains(out, []byte(`"image":"x@sha256:00"`)) {
		t.Errorf("patched object %s (%v), want the pinned image", out, err)
	}
	if ar := post(`{"request":{"uid":"u2","name":"boom"}}`); ar.Response.Allowed || ar.Response.Result.Code != http.StatusInternalServerError {
		t.Errorf("panicking handler: allowed %v code %d, want a 500 error answer", ar.Response.Allowed, ar.Response.Result.Code)
	}
	if ar := post(`{"request":{"uid":"u3","object":{]}}`); ar.Response.Allowed || ar.Response.Result.Code != http.StatusBadRequest {
		t.Errorf("invalid JSON: allowed %v code %d, want a 400 error answer", ar.Response.Allowed, ar.Response.Result.Code)
	}
}
