package imageadmission

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/seal-dev/seal/internal/verify"
)

// Options tune the handlers.
type Options struct {
	// SealNamespace is Seal's own namespace, never enforced.
	SealNamespace string
	// Budget bounds one admission request's work; default 22s (verify's timeoutSeconds is 25).
	Budget time.Duration
	// Parallel bounds the images verified at once per request; default 4.
	Parallel int
	// Events, when set, records a Warning Event when images are denied: on a Pod's controlling
	// owner (a ReplicaSet stuck without pods is where people look), or on the updated object.
	Events record.EventRecorder
	// Audit, when set, receives every warn-mode and denied image (never for dry runs): it
	// records ImagePolicyWarn Events and feeds the PolicyReports, off the admission path.
	Audit  *Audit
	Logger *slog.Logger
}

// ReasonImageDenied is the reason of the Events recorded on denials.
const ReasonImageDenied = "SealImageDenied"

type handlers struct {
	client   client.Reader
	verifier *verify.Verifier
	opts     Options
	log      *slog.Logger
}

// New returns the `pin` (mutating) and `verify` (validating) handlers. The client reads
// Namespaces, ServiceAccounts and pull Secrets; mount the handlers with
// `&webhook.Admission{Handler: h}` at /pin and /verify.
func New(c client.Reader, v *verify.Verifier, o Options) (pin, verifyHandler admission.Handler) {
	if o.Budget <= 0 {
		o.Budget = 22 * time.Second
	}
	if o.Parallel <= 0 {
		o.Parallel = 4
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	h := &handlers{client: c, verifier: v, opts: o, log: o.Logger}
	return admission.HandlerFunc(h.pin), admission.HandlerFunc(h.verify)
}

// admitted reads a request's workload and namespace scope; resp is non-nil when the request
// needs no further work.
func (h *handlers) admitted(ctx context.Context, req admission.Request) (*workload, scope, *admission.Response) {
	done := func(r admission.Response) (*workload, scope, *admission.Response) { return nil, scope{}, &r }
	if req.Operation != admissionv1.Create && req.Operation != admissionv1.Update {
		return done(admission.Allowed(""))
	}
	if req.SubResource != "" && req.SubResource != "ephemeralcontainers" {
		return done(admission.Allowed(""))
	}
	w, ok, err := decode(req.Kind.Kind, req.Object.Raw)
	if err != nil {
		return done(admission.Errored(http.StatusBadRequest, err))
	}
	if !ok || w.meta.DeletionTimestamp != nil {
		return done(admission.Allowed(""))
	}
	sc, err := h.namespaceScope(ctx, req.Namespace)
	if err != nil {
		return done(admission.Errored(http.StatusInternalServerError, err))
	}
	if !sc.enforced {
		return done(admission.Allowed("image policy not enforced in this namespace"))
	}
	return w, sc, nil
}

// pin rewrites tags to digests: `repo:tag` becomes `repo:tag@sha256:…`. It fails closed: a
// tag it cannot resolve is denied when an unapproved image would be denied (an enforce-mode
// ImagePolicy matches it, or none does and the no-match action is deny), since the kubelet
// would resolve the tag again at pull time. Elsewhere the image is left as it is, with a
// warning.
func (h *handlers) pin(ctx context.Context, req admission.Request) admission.Response {
	ctx, cancel := context.WithTimeout(ctx, h.opts.Budget)
	defer cancel()
	w, sc, resp := h.admitted(ctx, req)
	if resp != nil {
		return *resp
	}
	cs := w.containers()
	if req.Operation == admissionv1.Update {
		// Pinning an image an existing pod or template already runs would restart the container
		// or roll the workload out; only new images are pinned.
		cs = h.newImages(req, cs)
	}
	var todo []container
	for _, c := range cs {
		if _, pinned, err := verify.PinnedDigest(c.image); err == nil && !pinned {
			todo = append(todo, c)
		}
	}
	if len(todo) == 0 {
		return admission.Allowed("")
	}
	kc, err := h.keychain(ctx, req.Namespace, w)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	// Distinct images are resolved in parallel, so a slow registry costs one timeout, not one
	// per image.
	var distinct []container
	seen := map[string]bool{}
	for _, c := range todo {
		if !seen[c.image] {
			seen[c.image] = true
			distinct = append(distinct, c)
		}
	}
	digests := make([]string, len(distinct))
	errs := make([]error, len(distinct))
	var wg sync.WaitGroup
	sem := make(chan struct{}, h.opts.Parallel)
	for i, c := range distinct {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			d, err := h.verifier.Resolve(ctx, c.image, kc)
			if err == nil {
				digests[i] = d.DigestStr()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	images := make(map[string]string, len(distinct)) // image → digest
	failed := map[string]string{}                    // image → why it is denied unpinned
	var warnings []string
	for i, c := range distinct {
		if errs[i] != nil {
			if enforced, why := h.verifier.Enforces(ctx, c.image, sc.labels); enforced {
				failed[c.image] = fmt.Sprintf("cannot be pinned to a digest (%v), and %s: an image is admitted here only by digest, since the kubelet would resolve the tag again at pull time; fix: retry when the registry answers, or write the image by digest", errs[i], why)
				continue
			}
			warnings = append(warnings, trim(fmt.Sprintf("%s: image %q not pinned to a digest: %v", c.describe(), c.image, errs[i])))
			continue
		}
		images[c.image] = digests[i]
	}
	if len(failed) > 0 {
		var denials []string
		for _, c := range todo {
			if why, ok := failed[c.image]; ok {
				denials = append(denials, fmt.Sprintf("%s image %q: %s", c.describe(), c.image, why))
			}
		}
		msg := "seal image policy: " + strings.Join(denials, "; ")
		h.log.Info("image not pinned", "namespace", req.Namespace, "kind", req.Kind.Kind, "name", objectName(req, w), "reason", msg)
		return admission.Denied(msg).WithWarnings(warnings...)
	}
	var ops []jsonpatch.JsonPatchOperation
	for _, c := range todo {
		if dig := images[c.image]; dig != "" {
			ops = append(ops, jsonpatch.NewOperation("replace", w.imagePath(c), c.image+"@"+dig))
		}
	}
	resp2 := admission.Allowed("")
	resp2.Patches = ops
	return resp2.WithWarnings(warnings...)
}

// verify admits the request only when every new image is approved; `warn` policies admit with
// an admission warning.
func (h *handlers) verify(ctx context.Context, req admission.Request) admission.Response {
	ctx, cancel := context.WithTimeout(ctx, h.opts.Budget)
	defer cancel()
	w, sc, resp := h.admitted(ctx, req)
	if resp != nil {
		return *resp
	}
	cs := w.containers()
	if req.Operation == admissionv1.Update {
		cs = h.newImages(req, cs)
	}
	if len(cs) == 0 {
		return admission.Allowed("")
	}
	kc := h.lazyKeychainFor(ctx, req.Namespace, w)
	kcID := keychainID(req.Namespace, w)

	// Each distinct image is verified once, however many containers use it.
	var images []string
	seen := map[string]bool{}
	for _, c := range cs {
		if !seen[c.image] {
			seen[c.image] = true
			images = append(images, c.image)
		}
	}
	results := make([]verify.Decision, len(images))
	var wg sync.WaitGroup
	sem := make(chan struct{}, h.opts.Parallel)
	for i, image := range images {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i] = h.verifier.Verify(ctx, verify.Request{Image: image, Namespace: req.Namespace, NamespaceLabels: sc.labels,
				Keychain: kc, KeychainID: kcID, RequireDigest: true})
		})
	}
	wg.Wait()
	decisions := make(map[string]verify.Decision, len(images))
	for i, image := range images {
		decisions[image] = results[i]
	}

	var denials, warnings []string
	dryRun := req.DryRun != nil && *req.DryRun
	for _, c := range cs {
		d := decisions[c.image]
		if h.opts.Audit != nil && !dryRun && (!d.Allowed || d.Warning) {
			h.opts.Audit.Record(Finding{Object: objectRef(req, w), Owner: owner(req.Namespace, w),
				Container: c.name, Image: c.image, Decision: d})
		}
		switch {
		case !d.Allowed:
			denials = append(denials, fmt.Sprintf("%s image %q: %s", c.describe(), c.image, d.Message))
		case d.Warning:
			warnings = append(warnings, trim(fmt.Sprintf("%s image %q would be denied: %s", c.describe(), c.image, d.Message)))
		}
	}
	if len(denials) > 0 {
		msg := "seal image policy: " + strings.Join(denials, "; ")
		h.log.Info("image denied", "namespace", req.Namespace, "kind", req.Kind.Kind, "name", objectName(req, w), "reason", msg)
		// A dry run must have no side effects (the webhook declares sideEffects: None).
		if target := eventTarget(req, w); target != nil && h.opts.Events != nil && !dryRun {
			h.opts.Events.Event(target, corev1.EventTypeWarning, ReasonImageDenied, trim(msg))
		}
		return admission.Denied(msg).WithWarnings(warnings...)
	}
	return admission.Allowed("").WithWarnings(warnings...)
}

// newImages keeps the containers whose image the old object did not already run, so updates
// that do not change images (labels, scale, finalizers) never fail on a policy change.
func (h *handlers) newImages(req admission.Request, cs []container) []container {
	old, ok, err := decode(req.Kind.Kind, req.OldObject.Raw)
	if err != nil || !ok {
		return cs
	}
	had := map[string]bool{}
	for _, c := range old.containers() {
		had[c.image] = true
	}
	var out []container
	for _, c := range cs {
		if !had[c.image] {
			out = append(out, c)
		}
	}
	return out
}

// eventTarget is the object a denial Event is about: a Pod's controlling owner, or an object
// that already exists (an update). New workloads get none: kubectl shows the refusal.
func eventTarget(req admission.Request, w *workload) *corev1.ObjectReference {
	for _, o := range w.meta.OwnerReferences {
		if o.Controller != nil && *o.Controller {
			return &corev1.ObjectReference{APIVersion: o.APIVersion, Kind: o.Kind, Name: o.Name, UID: o.UID, Namespace: req.Namespace}
		}
	}
	if req.Operation == admissionv1.Update && w.meta.UID != "" {
		apiVersion := req.Kind.Version
		if req.Kind.Group != "" {
			apiVersion = req.Kind.Group + "/" + apiVersion
		}
		return &corev1.ObjectReference{APIVersion: apiVersion, Kind: req.Kind.Kind,
			Name: w.meta.Name, UID: w.meta.UID, Namespace: req.Namespace}
	}
	return nil
}

// objectRef is the admitted object (no UID while it is being created).
func objectRef(req admission.Request, w *workload) corev1.ObjectReference {
	apiVersion := req.Kind.Version
	if req.Kind.Group != "" {
		apiVersion = req.Kind.Group + "/" + apiVersion
	}
	name := req.Name
	if name == "" {
		name = w.meta.Name
	}
	return corev1.ObjectReference{APIVersion: apiVersion, Kind: req.Kind.Kind, Name: name, UID: w.meta.UID, Namespace: req.Namespace}
}

// owner is the object's controlling owner, or nil.
func owner(ns string, w *workload) *corev1.ObjectReference {
	for _, o := range w.meta.OwnerReferences {
		if o.Controller != nil && *o.Controller {
			return &corev1.ObjectReference{APIVersion: o.APIVersion, Kind: o.Kind, Name: o.Name, UID: o.UID, Namespace: ns}
		}
	}
	return nil
}

func objectName(req admission.Request, w *workload) string {
	if req.Name != "" {
		return req.Name
	}
	if w.meta.Name != "" {
		return w.meta.Name
	}
	return w.meta.GenerateName + "*"
}

// trim keeps admission warnings short (the API server truncates long ones).
func trim(s string) string {
	if len(s) > 512 {
		return s[:509] + "..."
	}
	return s
}
