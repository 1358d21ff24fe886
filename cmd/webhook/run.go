package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/seal-dev/seal/internal/imageadmission"
	"github.com/seal-dev/seal/internal/route"
	"github.com/seal-dev/seal/internal/servingcert"
	"github.com/seal-dev/seal/internal/verify"
	"github.com/seal-dev/seal/internal/webhook"
	sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"
)

// cacheSyncTimeout bounds the first sync of the caches (Namespaces, ImagePolicies,
// ApprovedImages, Services): past it seal-webhook exits rather than stay unready forever.
const cacheSyncTimeout = time.Minute

// newManager builds seal-webhook's one Manager: its webhook server (bounded, on --host and
// --port, with the serving certificate of --cert-dir or of certs), its metrics server on
// --metrics-addr, which also answers /healthz and /readyz, and its cache, which keeps no
// managedFields.
func newManager(cfg *rest.Config, o *cliOptions, certs *servingcert.Manager, log *slog.Logger) (manager.Manager, error) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := sealv1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	so := webhook.ServerOptions{Host: o.host, Port: o.port, CertDir: o.certDir, Log: log}
	if certs != nil {
		so.GetCertificate = certs.GetCertificate
	}
	metricsAddr := o.metricsAddr
	if metricsAddr == "" {
		metricsAddr = "0" // off
	}
	grace := time.Minute // the reviews in flight (each bounded by its write deadline)
	return ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme,
		Logger:                  logr.FromSlogHandler(log.Handler()),
		WebhookServer:           webhook.NewServer(so),
		Metrics:                 metricsserver.Options{BindAddress: metricsAddr},
		HealthProbeBindAddress:  "0", // the probes are on the metrics server: see probes
		PprofBindAddress:        o.pprofAddr,
		Cache:                   cache.Options{DefaultTransform: cache.TransformStripManagedFields()},
		GracefulShutdownTimeout: &grace,
	})
}

// setup adds every feature of seal-webhook to mgr, as its flags say.
func setup(mgr manager.Manager, o *cliOptions, log *slog.Logger) error {
	if err := webhook.Setup(mgr, webhook.Options{Inject: o.inject, Log: log}); err != nil {
		return err
	}
	if o.imagePolicy {
		if err := imageadmission.Setup(mgr, imageadmission.SetupOptions{
			Options:       imageadmission.Options{SealNamespace: o.namespace, Logger: log},
			NoMatch:       verify.NoMatchAction(o.imagePolicyNoMatch),
			PolicyReports: o.policyReports, ScanInterval: o.scanInterval,
		}); err != nil {
			return err
		}
	} else {
		log.Info("image policy off (--image-policy=false)")
	}
	if o.passthroughRoutes {
		var hosts []string
		for _, h := range strings.Split(o.routeHostsAllowed, ",") {
			if h = strings.TrimSpace(h); h != "" {
				hosts = append(hosts, h)
			}
		}
		if err := route.SetupWithOptions(mgr, route.Options{HostsAllowed: hosts}); err != nil {
			return err
		}
	}
	return nil
}

// probes serves /healthz and /readyz on the manager's metrics server (--metrics-addr): ready
// once the caches have synced, the serving certificate exists and the TLS port answers.
func probes(mgr manager.Manager, certs *servingcert.Manager, synced <-chan struct{}) error {
	ready := map[string]healthz.Checker{
		"caches": func(*http.Request) error {
			select {
			case <-synced:
				return nil
			default:
				return errors.New("the caches have not synced yet")
			}
		},
		"webhook": mgr.GetWebhookServer().StartedChecker(),
	}
	if certs != nil {
		ready["certificate"] = func(*http.Request) error {
			_, err := certs.GetCertificate(nil)
			return err
		}
	}
	for path, checks := range map[string]map[string]healthz.Checker{"/healthz": {"ping": healthz.Ping}, "/readyz": ready} {
		h := http.StripPrefix(path, &healthz.Handler{Checks: checks})
		for _, p := range []string{path, path + "/"} {
			if err := mgr.AddMetricsServerExtraHandler(p, h); err != nil {
				return err
			}
		}
	}
	return nil
}

// servingCert is the managed serving certificate (nil with --cert-dir).
func servingCert(cfg *rest.Config, o *cliOptions, log *slog.Logger) (*servingcert.Manager, error) {
	if o.certDir != "" {
		return nil, nil
	}
	// Not the manager's cached client: the CA Secret and the webhook configurations are read
	// once a minute, not watched.
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		return nil, err
	}
	svc := o.service + "." + o.namespace
	certs := &servingcert.Manager{Client: c, Namespace: o.namespace, SecretName: o.caSecret,
		DNSNames: []string{o.service, svc, svc + ".svc", svc + ".svc.cluster.local"},
		Log:      log}
	if o.mutating != "" {
		certs.MutatingConfigs = []string{o.mutating}
	}
	if o.validating != "" {
		certs.ValidatingConfigs = []string{o.validating}
	}
	return certs, nil
}

// runnable runs f as a manager runnable that needs no leader election (every replica serves)
// and whose cancellation is no error.
type runnable func(ctx context.Context) error

func (f runnable) Start(ctx context.Context) error {
	if err := f(ctx); err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}

func (runnable) NeedLeaderElection() bool { return false }

func run(ctx context.Context, cfg *rest.Config, o *cliOptions, log *slog.Logger) error {
	certs, err := servingCert(cfg, o, log)
	if err != nil {
		return err
	}
	mgr, err := newManager(cfg, o, certs, log)
	if err != nil {
		return fmt.Errorf("manager: %w", err)
	}
	if certs != nil {
		if err := mgr.Add(runnable(certs.Start)); err != nil {
			return err
		}
		// When the managed serving certificate expires (it renews itself well before).
		if err := crmetrics.Registry.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "seal_webhook_serving_cert_expiry_timestamp_seconds",
			Help: "When the webhook's current serving certificate expires (Unix seconds); 0 before it has one.",
		}, func() float64 {
			c, err := certs.GetCertificate(nil)
			if err != nil || c == nil || c.Leaf == nil {
				return 0
			}
			return float64(c.Leaf.NotAfter.Unix())
		})); err != nil {
			return err
		}
	}
	if err := setup(mgr, o, log); err != nil {
		return err
	}
	// Runnables that need no leader election start once the caches have synced.
	synced := make(chan struct{})
	if err := mgr.Add(runnable(func(context.Context) error { close(synced); return nil })); err != nil {
		return err
	}
	if o.metricsAddr != "" {
		if err := probes(mgr, certs, synced); err != nil {
			return err
		}
	}

	// On SIGTERM keep serving a moment (the Service's endpoints drop this pod meanwhile), then
	// stop accepting and finish the reviews in flight.
	mgrCtx, stopMgr := context.WithCancel(context.WithoutCancel(ctx))
	defer stopMgr()
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mgrCtx) }()
	go func() {
		select {
		case <-ctx.Done():
		case <-mgrCtx.Done():
			return
		}
		log.Info("shutting down: draining", "grace", o.shutdownGrace)
		select {
		case <-time.After(o.shutdownGrace):
		case <-mgrCtx.Done():
		}
		stopMgr()
	}()
	select {
	case <-synced:
	case err := <-done:
		return err
	case <-ctx.Done():
	case <-time.After(cacheSyncTimeout):
		stopMgr()
		<-done
		return fmt.Errorf("the caches did not sync within %v (are the seal.dev CRDs installed? --image-policy=false turns the image policy off)", cacheSyncTimeout)
	}
	return <-done
}
