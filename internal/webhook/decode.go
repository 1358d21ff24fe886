package webhook

import (
	"errors"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/seal-dev/seal/internal/inject"
	"github.com/seal-dev/seal/internal/jsonscan"
)

// podReview is what /inject reads of an AdmissionReview: the request's identity and the pod's
// fields Mutate needs (inject.PodJSON). readReview skips everything else (oldObject, userInfo,
// the pod's env values, probes, ...) without allocating it, in one pass over the body.
type podReview struct {
	APIVersion string
	Request    *reviewRequest
}

type reviewRequest struct {
	UID       types.UID
	Kind      string // kind.kind
	Namespace string
	Operation admissionv1.Operation
	DryRun    *bool
	Object    inject.PodJSON
	// ObjectErr is why the object is not a Pod's JSON (then Object is not to be used): a
	// review of another kind is still answered.
	ObjectErr error
}

// readReview reads an AdmissionReview as the API server's decoder would (case-sensitive
// names, null leaves a string as it was, a repeated name decodes into the same value). An error
// is a body that is not JSON or whose envelope (apiVersion, request, uid, kind, namespace,
// operation, dryRun) has the wrong types; an object that is not a Pod's shape is ObjectErr.
func readReview(body []byte) (*podReview, error) {
	var rev podReview
	d := jsonscan.New(body)
	err := readEnvelope(d, &rev.APIVersion, func(null bool) error {
		if null {
			rev.Request = nil
			return nil
		}
		if rev.Request == nil {
			rev.Request = new(reviewRequest)
		}
		return readRequest(d, rev.Request)
	})
	return &rev, err
}

// readEnvelope reads an AdmissionReview at d to its end: apiVersion into apiVersion, and the
// request with request (null: the request is null; else request reads the object at d).
func readEnvelope(d *jsonscan.Decoder, apiVersion *string, request func(null bool) error) error {
	err := d.Fields(func(k []byte) error {
		switch string(k) {
		case "apiVersion":
			return jsonscan.StringInto(d, apiVersion)
		case "request":
			null, err := d.Null()
			if err != nil {
				return err
			}
			return request(null)
		}
		return d.Skip()
	})
	if err == nil {
		err = d.End()
	}
	return err
}

func readRequest(d *jsonscan.Decoder, q *reviewRequest) error {
	return d.Fields(func(k []byte) error {
		switch string(k) {
		case "uid":
			return jsonscan.StringInto(d, &q.UID)
		case "kind":
			return d.Fields(func(k []byte) error {
				if string(k) == "kind" {
					return jsonscan.StringInto(d, &q.Kind)
				}
				return d.Skip()
			})
		case "namespace":
			return jsonscan.StringInto(d, &q.Namespace)
		case "operation":
			return jsonscan.StringInto(d, &q.Operation)
		case "dryRun":
			return inject.BoolPtr(d, &q.DryRun)
		case "object":
			// The API server keeps the last object whole (a RawExtension), not merged; a null
			// leaves it as it was.
			if null, err := d.Null(); null || err != nil {
				return err
			}
			q.Object, q.ObjectErr = inject.PodJSON{}, nil
			off, depth := d.Offset(), d.Depth()
			err := inject.ReadPod(d, &q.Object)
			if errors.Is(err, jsonscan.ErrType) {
				// Not a Pod's shape: keep why, and skip (validate) the object.
				q.ObjectErr = err
				d.Rewind(off, depth)
				return d.Skip()
			}
			return err
		}
		return d.Skip()
	})
}
