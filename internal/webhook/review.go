package webhook

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/seal-dev/seal/internal/inject"
)

var bodies = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBody keeps one huge review from pinning its buffer in the pool.
const maxPooledBody = 256 << 10

// readBody reads a review's body into a pooled buffer (give it back with putBody). A body that
// is not JSON or cannot be read is answered here with an error review, and ok is false.
func readBody(w http.ResponseWriter, r *http.Request) (buf *bytes.Buffer, ok bool) {
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		writeReview(w, "", "", admission.Errored(http.StatusBadRequest, fmt.Errorf("seal: content type %q, want application/json", ct)))
		return nil, false
	}
	buf = bodies.Get().(*bytes.Buffer)
	buf.Reset()
	if _, err := buf.ReadFrom(r.Body); err != nil {
		putBody(buf)
		code := http.StatusBadRequest
		if tooLarge := new(http.MaxBytesError); errors.As(err, &tooLarge) {
			code = http.StatusRequestEntityTooLarge
		}
		writeReview(w, "", "", admission.Errored(int32(code), errors.New("seal: cannot read the review: "+err.Error())))
		return nil, false
	}
	return buf, true
}

// putBody returns a body buffer to the pool, unless it grew past maxPooledBody.
func putBody(buf *bytes.Buffer) {
	if buf.Cap() <= maxPooledBody {
		buf.Reset()
		bodies.Put(buf)
	}
}

// ServeHTTP answers the /inject AdmissionReview (v1, or v1beta1 echoed back).
func (h *injectHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	buf, ok := readBody(w, r)
	if !ok {
		return
	}
	defer putBody(buf)
	rev, err := readReview(buf.Bytes())
	if err == nil && rev.Request != nil && rev.Request.ObjectErr != nil {
		q := rev.Request
		if q.Kind != "Pod" || q.Operation != admissionv1.Create {
			// Not a pod: a review of another kind is allowed, as controller-runtime's decoder did.
			writeReview(w, rev.APIVersion, q.UID, h.count(h.skip()))
			return
		}
		err = q.ObjectErr
	}
	if err != nil {
		h.metrics.denials.WithLabelValues("bad-request").Inc()
		writeReview(w, "", "", h.count(counted{admission.Errored(http.StatusBadRequest, errors.New("seal: the review is not an AdmissionReview of a Pod: "+err.Error())), resultError, start}))
		return
	}
	if rev.Request == nil {
		h.metrics.denials.WithLabelValues("bad-request").Inc()
		writeReview(w, rev.APIVersion, "", h.count(counted{admission.Errored(http.StatusBadRequest, errors.New("seal: the AdmissionReview has no request")), resultError, start}))
		return
	}
	q := rev.Request
	in := reviewInput{kind: q.Kind, operation: q.Operation, namespace: q.Namespace, dryRun: q.DryRun != nil && *q.DryRun}
	pb := patches.Get().(*[]byte)
	in.patch = (*pb)[:0]
	resp := h.safeReview(r, &in, &q.Object)
	writeReview(w, rev.APIVersion, q.UID, resp)
	if cap(in.patch) <= maxPooledBody {
		*pb = in.patch[:0]
	} // else: keep the buffer it started with
	patches.Put(pb)
}

// patches are the buffers reviews build their patch in (inject.MutateAppend): the patch is
// done with once the answer is written.
var patches = sync.Pool{New: func() any { b := make([]byte, 0, 8192); return &b }}

// safeReview turns a panic into an error answer, as admission.Webhook did.
func (h *injectHandler) safeReview(r *http.Request, in *reviewInput, obj *inject.PodJSON) (resp admission.Response) {
	defer func() {
		if p := recover(); p != nil {
			h.log.Error("panic in the injection review", "panic", fmt.Sprint(p))
			resp = admission.Errored(http.StatusInternalServerError, fmt.Errorf("seal: panic: %v [recovered]", p))
		}
	}()
	return h.count(h.review(r.Context(), in, obj))
}
