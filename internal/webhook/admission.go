package webhook

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/seal-dev/seal/internal/jsonscan"
)

// Admission serves an admission.Handler as controller-runtime's admission.Webhook does, but
// reads the AdmissionReview in one pass with jsonscan: the object and oldObject are handed to
// the handler as slices of the body (valid during Handle only), userInfo and the rest are
// validated and skipped. encoding/json's scanner costs milliseconds for a 76 KB object; the
// handler then decodes only what it reads of it (/pin and /verify: images and pull secrets).
func Admission(h admission.Handler, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	return &admissionHandler{h: h, log: log}
}

type admissionHandler struct {
	h   admission.Handler
	log *slog.Logger
}

func (a *admissionHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	buf, ok := readBody(w, r)
	if !ok {
		return
	}
	defer putBody(buf)
	apiVersion, req, err := readRequestReview(buf.Bytes())
	if err != nil {
		writeReview(w, "", "", admission.Errored(http.StatusBadRequest, errors.New("seal: the body is not an AdmissionReview: "+err.Error())))
		return
	}
	if req == nil {
		writeReview(w, apiVersion, "", admission.Errored(http.StatusBadRequest, errors.New("seal: the AdmissionReview has no request")))
		return
	}
	resp := a.handle(r, req)
	writeReview(w, apiVersion, req.UID, resp)
}

// handle runs the handler, turning a panic into an error answer as admission.Webhook does.
func (a *admissionHandler) handle(r *http.Request, req *admission.Request) (resp admission.Response) {
	defer func() {
		if p := recover(); p != nil {
			a.log.Error("panic in an admission review", "path", r.URL.Path, "panic", fmt.Sprint(p))
			resp = admission.Errored(http.StatusInternalServerError, fmt.Errorf("seal: panic: %v [recovered]", p))
		}
	}()
	resp = a.h.Handle(r.Context(), *req)
	if err := resp.Complete(*req); err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	return resp
}

// readRequestReview reads an AdmissionReview's apiVersion and request as the API server's
// decoder would; object and oldObject are slices of body.
func readRequestReview(body []byte) (apiVersion string, req *admission.Request, err error) {
	d := jsonscan.New(body)
	err = readEnvelope(d, &apiVersion, func(null bool) error {
		if null {
			req = nil
			return nil
		}
		if req == nil {
			req = new(admission.Request)
		}
		return readAdmissionRequest(d, &req.AdmissionRequest)
	})
	return apiVersion, req, err
}

func readAdmissionRequest(d *jsonscan.Decoder, q *admissionv1.AdmissionRequest) error {
	gvk := func(g *metav1.GroupVersionKind) error {
		return d.Fields(func(k []byte) error {
			switch string(k) {
			case "group":
				return jsonscan.StringInto(d, &g.Group)
			case "version":
				return jsonscan.StringInto(d, &g.Version)
			case "kind":
				return jsonscan.StringInto(d, &g.Kind)
			}
			return d.Skip()
		})
	}
	gvr := func(g *metav1.GroupVersionResource) error {
		return d.Fields(func(k []byte) error {
			switch string(k) {
			case "group":
				return jsonscan.StringInto(d, &g.Group)
			case "version":
				return jsonscan.StringInto(d, &g.Version)
			case "resource":
				return jsonscan.StringInto(d, &g.Resource)
			}
			return d.Skip()
		})
	}
	raw := func(dst *[]byte) error { // a RawExtension: null leaves it as it was
		if null, err := d.Null(); null || err != nil {
			return err
		}
		start := d.Offset()
		err := d.Skip()
		*dst = d.Bytes(start)
		return err
	}
	return d.Fields(func(k []byte) error {
		switch string(k) {
		case "uid":
			return jsonscan.StringInto(d, &q.UID)
		case "kind":
			return gvk(&q.Kind)
		case "resource":
			return gvr(&q.Resource)
		case "subResource":
			return jsonscan.StringInto(d, &q.SubResource)
		case "name":
			return jsonscan.StringInto(d, &q.Name)
		case "namespace":
			return jsonscan.StringInto(d, &q.Namespace)
		case "operation":
			return jsonscan.StringInto(d, &q.Operation)
		case "object":
			return raw(&q.Object.Raw)
		case "oldObject":
			return raw(&q.OldObject.Raw)
		case "dryRun":
			if null, err := d.Null(); null || err != nil {
				q.DryRun = nil
				return err
			}
			v, err := d.Bool()
			if err == nil {
				q.DryRun = &v
			}
			return err
		}
		return d.Skip()
	})
}
