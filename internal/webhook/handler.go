package webhook

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/seal-dev/seal/internal/inject"
)

// injectHandler answers the /inject review: decode what Mutate reads of the Pod, run
// inject.Mutate, answer with its patch, a denial, or a plain allow.
type injectHandler struct {
	cfg        *inject.Config
	namespaces NamespaceLabels
	events     record.EventRecorder
	metrics    *metrics
	log        *slog.Logger
}

var jsonPatch = admissionv1.PatchTypeJSONPatch

// reviewInput is the request's side of a review.
type reviewInput struct {
	kind, namespace string
	operation       admissionv1.Operation
	dryRun          bool
	// patch is the buffer to build the patch in; handle leaves in it the buffer the patch was
	// built in (grown if it had to).
	patch []byte
}

// counted is a response and its result label, for the metrics.
type counted struct {
	resp   admission.Response
	result string
	start  time.Time
}

func (h *injectHandler) count(c counted) admission.Response {
	h.metrics.requests.WithLabelValues("inject", c.result).Inc()
	h.metrics.latency.WithLabelValues("inject").Observe(time.Since(c.start).Seconds())
	return c.resp
}

func (h *injectHandler) skip() counted {
	h.metrics.skips.WithLabelValues(string(inject.SkipNotSelected)).Inc()
	return counted{admission.Allowed("seal: not a pod creation"), resultSkipped, time.Now()}
}

func (h *injectHandler) review(ctx context.Context, in *reviewInput, obj *inject.PodJSON) counted {
	start := time.Now()
	if in.kind != "Pod" || in.operation != admissionv1.Create {
		c := h.skip()
		c.start = start
		return c
	}
	pod := pods.Get().(*corev1.Pod)
	obj.PodInto(pod)
	resp, result := h.handle(ctx, in, pod)
	putPod(pod)
	return counted{resp, result, start}
}

// pods hold the Pod of a review while it runs (inject.PodJSON.PodInto reuses their lists).
var pods = sync.Pool{New: func() any { return new(corev1.Pod) }}

// Past these sizes a review's Pod is not kept: one huge pod must not pin its lists' memory.
const (
	maxPooledContainers = 64
	maxPooledMounts     = 256 // per container, and volumes
)

// putPod gives pod back to the pool unless its lists grew past the bounds; the maps it points
// to (the decoded labels and annotations) are let go.
func putPod(pod *corev1.Pod) {
	s := &pod.Spec
	if cap(s.Containers)+cap(s.InitContainers) > maxPooledContainers || cap(s.Volumes) > maxPooledMounts || cap(pod.OwnerReferences) > maxPooledMounts {
		return
	}
	for _, cs := range [][]corev1.Container{s.Containers[:cap(s.Containers)], s.InitContainers[:cap(s.InitContainers)]} {
		for i := range cs {
			if cap(cs[i].VolumeMounts) > maxPooledMounts {
				return
			}
		}
	}
	pod.Labels, pod.Annotations = nil, nil
	pods.Put(pod)
}

func (h *injectHandler) handle(ctx context.Context, in *reviewInput, pod *corev1.Pod) (admission.Response, string) {
	ns := inject.Namespace{Name: in.namespace}
	if ns.Name == "" {
		ns.Name = pod.Namespace
	}
	var err error
	if ns.Labels, err = h.namespaces.NamespaceLabels(ctx, ns.Name); err != nil {
		h.log.Error("cannot read the pod's namespace", "namespace", ns.Name, "err", err)
		return admission.Errored(http.StatusInternalServerError, err), resultError
	}
	res, err := inject.MutateAppend(in.patch, pod, ns, h.cfg)
	if res.Patch != nil {
		in.patch = res.Patch
	}
	if err != nil {
		h.metrics.denials.WithLabelValues("refused").Inc()
		if h.events != nil && !in.dryRun { // a dry run has no side effects
			h.events.Event(eventTarget(pod, ns.Name), corev1.EventTypeWarning, ReasonRefused, err.Error())
		}
		h.log.Info("pod refused", "namespace", ns.Name, "pod", podName(pod), "reason", err.Error())
		return admission.Denied(err.Error()), resultDenied
	}
	if res.Patch == nil {
		h.metrics.skips.WithLabelValues(string(res.Skipped)).Inc()
		r := admission.Allowed("seal: " + string(res.Skipped))
		r.Warnings = res.Warnings
		return r, resultSkipped
	}
	h.metrics.injections.Inc()
	if h.log.Enabled(ctx, slog.LevelDebug) { // the arguments would cost 6 allocations per review
		h.log.Debug("pod injected", "namespace", ns.Name, "pod", podName(pod), "workload", res.Status.Workload, "peer", res.Status.Peer)
	}
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
