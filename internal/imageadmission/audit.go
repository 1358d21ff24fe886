package imageadmission

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seal-dev/seal/internal/verify"
)

// ReasonImagePolicyWarn is the reason of the Warning Events recorded when an image is admitted
// only because the ImagePolicies that would deny it are in warn mode.
const ReasonImagePolicyWarn = "ImagePolicyWarn"

// Finding is one image's result on one object, as the audit records it: a warn-mode
// admission, a denial, or what a scan of running pods found.
type Finding struct {
	// Object is the admitted or scanned object (its UID is empty for an object being created).
	Object corev1.ObjectReference
	// Owner is the object's controlling owner, if any: Events go there.
	Owner     *corev1.ObjectReference
	Container string
	Image     string
	Decision  verify.Decision
	// Scan is true for findings of the periodic scan of running pods.
	Scan bool
	// At is when the result was found.
	At time.Time
}

// AuditOptions configure an Audit.
type AuditOptions struct {
	// Events records the ImagePolicyWarn Events; nil records none.
	Events record.EventRecorder
	// Reports receives every finding for the namespace's PolicyReport; nil writes none.
	Reports *Reports
	// Reader looks up the UID of an object created in warn mode (the Event must carry it for
	// `kubectl describe` to show it); nil leaves it out.
	Reader client.Reader
	// QueueSize bounds the findings waiting for the worker; beyond it they are dropped and
	// counted. Default 1024.
	QueueSize int
	// DedupWindow: one Event per object, image and policy in this window; default 10m.
	DedupWindow time.Duration
	// Registerer receives the audit's metrics; nil keeps them unregistered.
	Registerer prometheus.Registerer
	Now        func() time.Time
	Logger     *slog.Logger
}

// Audit records findings off the admission path: Record never blocks, a single worker records
// the Events (deduplicated, so a pod storm makes one Event per object and policy) and feeds the
// PolicyReports. Run it with Start (it is a manager Runnable).
type Audit struct {
	o      AuditOptions
	queue  chan Finding
	seen   map[string]time.Time // dedup key → when its Event was recorded
	queued *prometheus.CounterVec
	events *prometheus.CounterVec
}

// NewAudit makes an Audit.
func NewAudit(o AuditOptions) *Audit {
	if o.QueueSize <= 0 {
		o.QueueSize = 1024
	}
	if o.DedupWindow <= 0 {
		o.DedupWindow = 10 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	a := &Audit{o: o, queue: make(chan Finding, o.QueueSize), seen: map[string]time.Time{},
		queued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "seal_image_audit_findings_total",
			Help: "Image policy findings (warn, denied, scanned) handed to the audit, by result: queued, or dropped when the bounded queue was full.",
		}, []string{"result"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "seal_image_policy_events_total",
			Help: "ImagePolicyWarn Events, by result: recorded, or deduplicated (one per object, image and policy per window).",
		}, []string{"result"}),
	}
	for _, r := range []string{"queued", "dropped"} {
		a.queued.WithLabelValues(r)
	}
	for _, r := range []string{"recorded", "deduplicated"} {
		a.events.WithLabelValues(r)
	}
	if o.Registerer != nil {
		a.queued = register(o.Registerer, a.queued)
		a.events = register(o.Registerer, a.events)
	}
	return a
}

// register adds c to reg, or returns the collector already registered under its name.
func register(reg prometheus.Registerer, c *prometheus.CounterVec) *prometheus.CounterVec {
	if err := reg.Register(c); err != nil {
		if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return existing
			}
		}
	}
	return c
}

// Record queues a finding; it never blocks (a full queue drops it, counted in
// seal_image_audit_findings_total{result="dropped"}).
func (a *Audit) Record(f Finding) {
	if a == nil {
		return
	}
	if f.At.IsZero() {
		f.At = a.o.Now()
	}
	select {
	case a.queue <- f:
		a.queued.WithLabelValues("queued").Inc()
	default:
		a.queued.WithLabelValues("dropped").Inc()
	}
}

// Start runs the worker until ctx ends.
func (a *Audit) Start(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case f := <-a.queue:
			a.handle(ctx, f)
		}
	}
}

// NeedLeaderElection is false: every replica records what it admits.
func (a *Audit) NeedLeaderElection() bool { return false }

func (a *Audit) handle(ctx context.Context, f Finding) {
	if a.o.Reports != nil {
		a.o.Reports.add(f)
	}
	if f.Scan || !f.Decision.Allowed || !f.Decision.Warning || a.o.Events == nil {
		return
	}
	policy := f.Decision.DecidingPolicy()
	target := f.Owner
	if target == nil {
		o := f.Object
		target = &o
	}
	key := string(target.UID) + "/" + target.Kind + "/" + target.Namespace + "/" + target.Name + "/" + f.Image + "/" + policy
	now := a.o.Now()
	if t, ok := a.seen[key]; ok && now.Sub(t) < a.o.DedupWindow {
		a.events.WithLabelValues("deduplicated").Inc()
		return
	}
	a.prune(now)
	a.seen[key] = now
	if target.Name == "" { // a generateName pod without an owner: the report has it
		return
	}
	if target.UID == "" && a.o.Reader != nil {
		target.UID = a.lookupUID(ctx, *target)
	}
	who := "ImagePolicy " + policy
	if policy == "" {
		who = "the no-match action (warn)"
	}
	msg := fmt.Sprintf("container %q image %q would be denied (%s, warn mode): %s", f.Container, f.Image, who, f.Decision.Message)
	a.o.Events.Event(target, corev1.EventTypeWarning, ReasonImagePolicyWarn, trim(msg))
	a.events.WithLabelValues("recorded").Inc()
}

// prune bounds the dedup memory: expired keys go, and past 10000 keys all go.
func (a *Audit) prune(now time.Time) {
	if len(a.seen) < 1000 {
		return
	}
	for k, t := range a.seen {
		if now.Sub(t) >= a.o.DedupWindow {
			delete(a.seen, k)
		}
	}
	if len(a.seen) >= 10000 {
		clear(a.seen)
	}
}

// lookupUID reads the UID of an object admitted a moment ago (it is persisted after the
// webhooks answer), trying for about two seconds.
func (a *Audit) lookupUID(ctx context.Context, ref corev1.ObjectReference) types.UID {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(schema.FromAPIVersionAndKind(ref.APIVersion, ref.Kind))
	for i := 0; i < 8; i++ {
		select {
		case <-ctx.Done():
			return ""
		case <-time.After(250 * time.Millisecond):
		}
		if err := a.o.Reader.Get(ctx, types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}, m); err == nil {
			return m.UID
		}
	}
	return ""
}
