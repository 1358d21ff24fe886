package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/seal-dev/seal/internal/inject"
)

// injectHandler answers the /inject review: decode the Pod, run inject.Mutate, answer with its
// patch, a denial, or a plain allow.
type injectHandler struct {
	cfg        *inject.Config
	namespaces NamespaceLabels
	events     record.EventRecorder
	metrics    *metrics
	log        *slog.Logger
}

var jsonPatch = admissionv1.PatchTypeJSONPatch

// Handle implements admission.Handler.
func (h *injectHandler) Handle(ctx context.Context, req admission.Request) admission.Response {
	start := time.Now()
	resp, result := h.handle(ctx, req)
	h.metrics.requests.WithLabelValues("inject", result).Inc()
	h.metrics.latency.WithLabelValues("inject").Observe(time.Since(start).Seconds())
	return resp
}

func (h *injectHandler) handle(ctx context.Context, req admission.Request) (admission.Response, string) {
	if req.Kind.Kind != "Pod" || req.Operation != admissionv1.Create {
		h.metrics.skips.WithLabelValues(string(inject.SkipNotSelected)).Inc()
		return admission.Allowed("seal: not a pod creation"), resultSkipped
	}
	var pod corev1.Pod
	if err := json.Unmarshal(req.Object.Raw, &pod); err != nil {
		h.metrics.denials.WithLabelValues("bad-request").Inc()
		return admission.Errored(http.StatusBadRequest, errors.New("seal: the review's object is not a Pod: "+err.Error())), resultError
	}
	ns := inject.Namespace{Name: req.Namespace}
	if ns.Name == "" {
		ns.Name = pod.Namespace
	}
	var err error
	if ns.Labels, err = h.namespaces.NamespaceLabels(ctx, ns.Name); err != nil {
		h.log.Error("cannot read the pod's namespace", "namespace", ns.Name, "err", err)
		return admission.Errored(http.StatusInternalServerError, err), resultError
	}
	res, err := inject.Mutate(&pod, ns, h.cfg)
	if err != nil {
		h.metrics.denials.WithLabelValues("refused").Inc()
		if h.events != nil && (req.DryRun == nil || !*req.DryRun) { // a dry run has no side effects
			h.events.Event(eventTarget(&pod, ns.Name), corev1.EventTypeWarning, ReasonRefused, err.Error())
		}
		h.log.Info("pod refused", "namespace", ns.Name, "pod", podName(&pod), "reason", err.Error())
		return admission.Denied(err.Error()), resultDenied
	}
	if res.Patch == nil {
		h.metrics.skips.WithLabelValues(string(res.Skipped)).Inc()
		r := admission.Allowed("seal: " + string(res.Skipped))
		r.Warnings = res.Warnings
		return r, resultSkipped
	}
	h.metrics.injections.Inc()
	h.log.Debug("pod injected", "namespace", ns.Name, "pod", podName(&pod), "workload", res.Status.Workload, "peer", res.Status.Peer)
	return admission.Response{AdmissionResponse: admissionv1.AdmissionResponse{
		Allowed:   true,
		Patch:     res.Patch,
		PatchType: &jsonPatch,
		Warnings:  res.Warnings,
	}}, resultInjected
}

func podName(p *corev1.Pod) string {
	if p.Name != "" {
		return p.Name
	}
	return p.GenerateName + "*"
}
