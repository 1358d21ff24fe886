package webhook

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/seal-dev/seal/internal/inject"
)

var contentTypeJSON = []string{"application/json"}

var answers = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// writeReview writes resp as an AdmissionReview of apiVersion (v1 unless the request was
// v1beta1) answering uid.
func writeReview(w http.ResponseWriter, apiVersion string, uid types.UID, resp admission.Response) {
	if apiVersion != "admission.k8s.io/v1beta1" {
		apiVersion = "admission.k8s.io/v1"
	}
	resp.UID = uid
	if resp.Result == nil {
		resp.Result = &metav1.Status{Code: http.StatusOK}
	}
	bp := answers.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= maxPooledBody {
			answers.Put(bp)
		}
	}()
	b, ok := appendReview((*bp)[:0], apiVersion, &resp.AdmissionResponse)
	if !ok {
		var err error
		if b, err = json.Marshal(&admissionv1.AdmissionReview{
			TypeMeta: metav1.TypeMeta{APIVersion: apiVersion, Kind: "AdmissionReview"},
			Response: &resp.AdmissionResponse,
		}); err != nil { // cannot happen: the response is plain data
			http.Error(w, "seal: cannot encode the answer", http.StatusInternalServerError)
			return
		}
	} else {
		*bp = b
	}
	h := w.Header()
	h["Content-Type"] = contentTypeJSON // net/http copies the handler's header before writing it
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	_, _ = w.Write(b)
}

// appendReview appends what json.Marshal writes for the AdmissionReview answering r, byte for
// byte (TestAppendReviewIsJSON), or reports false for a response it does not encode (audit
// annotations, status details or metadata: the webhook sets none).
func appendReview(b []byte, apiVersion string, r *admissionv1.AdmissionResponse) ([]byte, bool) {
	st := r.Result
	if len(r.AuditAnnotations) > 0 || st != nil && (st.Details != nil || st.ListMeta != (metav1.ListMeta{})) {
		return b, false
	}
	b = append(b, `{"kind":"AdmissionReview","apiVersion":`...)
	b = inject.AppendJSONString(b, apiVersion)
	b = append(b, `,"response":{"uid":`...)
	b = inject.AppendJSONString(b, string(r.UID))
	b = append(b, `,"allowed":`...)
	b = strconv.AppendBool(b, r.Allowed)
	if st != nil {
		b = append(b, `,"status":{`...)
		if st.Kind != "" {
			b = append(b, `"kind":`...)
			b = inject.AppendJSONString(b, st.Kind)
			b = append(b, ',')
		}
		if st.APIVersion != "" {
			b = append(b, `"apiVersion":`...)
			b = inject.AppendJSONString(b, st.APIVersion)
			b = append(b, ',')
		}
		b = append(b, `"metadata":{}`...)
		for _, f := range [...]struct{ name, v string }{{"status", st.Status}, {"message", st.Message}, {"reason", string(st.Reason)}} {
			if f.v != "" {
				b = append(b, `,"`...)
				b = append(b, f.name...)
				b = append(b, `":`...)
				b = inject.AppendJSONString(b, f.v)
			}
		}
		if st.Code != 0 {
			b = append(b, `,"code":`...)
			b = strconv.AppendInt(b, int64(st.Code), 10)
		}
		b = append(b, '}')
	}
	if len(r.Patch) > 0 {
		b = append(b, `,"patch":"`...)
		b = base64.StdEncoding.AppendEncode(b, r.Patch)
		b = append(b, '"')
	}
	if r.PatchType != nil {
		b = append(b, `,"patchType":`...)
		b = inject.AppendJSONString(b, string(*r.PatchType))
	}
	if len(r.Warnings) > 0 {
		b = append(b, `,"warnings":[`...)
		for i, s := range r.Warnings {
			if i > 0 {
				b = append(b, ',')
			}
			b = inject.AppendJSONString(b, s)
		}
		b = append(b, ']')
	}
	return append(b, "}}"...), true
}
