package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/seal-dev/seal/internal/inject"
)

// PathInject is where the pod injection review is served.
const PathInject = "/inject"

// EventSource is the component of the Events seal-webhook records.
const EventSource = "seal-webhook"

// Options configure the pod injection review.
type Options struct {
	// Inject is the mutation's configuration (validated by Setup).
	Inject inject.Config
	// Namespaces gives namespace labels; default the manager's cache of Namespaces (the one
	// informer every feature shares), falling back to the API server for a namespace created
	// a moment ago.
	Namespaces NamespaceLabels
	// Events records an Event on the pod's owner when injection is refused; default the
	// manager's recorder for EventSource.
	Events record.EventRecorder
	// Registry takes the metrics; default controller-runtime's registry (what the manager's
	// metrics server serves).
	Registry prometheus.Registerer
	// Log defaults to slog.Default().
	Log *slog.Logger
}

// Setup serves the pod injection review at PathInject on mgr's webhook server (build it with
// NewServer for the body cap and deadlines).
func Setup(mgr manager.Manager, o Options) error {
	cfg := o.Inject.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	if err := CheckServer(mgr); err != nil {
		return err
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Registry == nil {
		o.Registry = crmetrics.Registry
	}
	if o.Events == nil {
		//lint:ignore SA1019 the injector and imageadmission record core/v1 Events (record.EventRecorder)
		o.Events = mgr.GetEventRecorderFor(EventSource) //nolint:staticcheck
	}
	if o.Namespaces == nil {
		// Ask for the informer now, so that the manager syncs it before it reports ready.
		if _, err := mgr.GetCache().GetInformer(context.Background(), &corev1.Namespace{}); err != nil {
			return fmt.Errorf("webhook: namespace informer: %w", err)
		}
		o.Namespaces = CachedNamespaces(mgr.GetCache(), mgr.GetAPIReader())
	}
	m, err := newMetrics(o.Registry)
	if err != nil {
		return fmt.Errorf("webhook: metrics: %w", err)
	}
	// Not an admission.Webhook: that decodes the whole review and the handler the whole Pod;
	// injectHandler reads only what Mutate needs, in one pass (docs/webhook.md, "Cost").
	mgr.GetWebhookServer().Register(PathInject, &injectHandler{cfg: &cfg, namespaces: o.Namespaces, events: o.Events, metrics: m, log: o.Log})
	return nil
}

// CheckServer fails unless mgr's webhook server comes from NewServer: an admission endpoint
// must not be served without the body cap and deadlines.
func CheckServer(mgr manager.Manager) error {
	if _, ok := mgr.GetWebhookServer().(*server); !ok {
		return errors.New("webhook: the manager's WebhookServer must come from webhook.NewServer (body cap and deadlines)")
	}
	return nil
}
