package webhook

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crconfig "sigs.k8s.io/controller-runtime/pkg/client/config"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/seal-dev/seal/internal/inject"
	"github.com/seal-dev/seal/internal/servingcert"
	"github.com/seal-dev/seal/internal/version"
)

// Exit codes of Main.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

const usageHead = `seal-webhook is Seal's admission webhook. It injects seal-init into the pods that ask for a
Seal identity (namespace label seal.dev/inject=enabled, or pod label seal.dev/inject=true, plus
the annotation seal.dev/workload), so each pod redeems its Egg at the ROT and finds its
certificate and keys in /var/run/seal. See docs/webhook.md.

Usage:
  seal-webhook --init-image IMAGE --trust-domain TD [flags]

Serving certificate, one of:
  --cert-dir DIR     tls.crt and tls.key from DIR (e.g. a cert-manager Secret), reloaded on change
  (default)          managed in-process: a CA in the Secret --ca-secret-name of --namespace,
                     a leaf for <service-name>.<namespace>.svc, and the caBundle patched into
                     --mutating-config-name and --validating-config-name

Example:
  seal-webhook --init-image ghcr.io/seal-dev/seal-init:v0.1.0 --trust-domain prod.example.org \
    --namespace seal-system --service-name seal-webhook

Flags:
`

type cliOptions struct {
	host, certDir, namespace, service, mutating, validating, caSecret string
	kubeconfig, metricsAddr, logLevel                                 string
	port                                                              int
	inject                                                            inject.Config
	pullPolicy, cpuRequest, memRequest, memLimit                      string
	shutdownGrace                                                     time.Duration
}

func newFlagSet(o *cliOptions) *flag.FlagSet {
	fs := flag.NewFlagSet("seal-webhook", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	defNS := os.Getenv("POD_NAMESPACE")
	if defNS == "" {
		defNS = "seal-system"
	}
	fs.StringVar(&o.host, "host", "", "listen on this `address` (default all)")
	fs.IntVar(&o.port, "port", 9443, "serve the admission webhooks (HTTPS) on this `port`")
	fs.StringVar(&o.certDir, "cert-dir", "", "take tls.crt and tls.key from this `directory` instead of managing the certificate")
	fs.StringVar(&o.namespace, "namespace", defNS, "the webhook's own `namespace` (never injected; holds the CA Secret)")
	fs.StringVar(&o.service, "service-name", "seal-webhook", "the webhook's Service `name` (the managed certificate's DNS names)")
	fs.StringVar(&o.mutating, "mutating-config-name", "seal-webhook", "MutatingWebhookConfiguration `name` to patch the caBundle into (empty: none)")
	fs.StringVar(&o.validating, "validating-config-name", "seal-webhook", "ValidatingWebhookConfiguration `name` to patch the caBundle into (empty: none)")
	fs.StringVar(&o.caSecret, "ca-secret-name", "seal-webhook-ca", "Secret `name` holding the managed serving CA")
	fs.StringVar(&o.inject.Image, "init-image", "", "seal-init `image` to inject (required)")
	fs.StringVar(&o.inject.Binary, "init-binary", "/seal-init", "`path` of seal-init inside --init-image")
	fs.StringVar(&o.pullPolicy, "init-image-pull-policy", "", "`policy` for --init-image: Always, IfNotPresent or Never (default: Kubernetes' default)")
	fs.StringVar(&o.cpuRequest, "init-cpu-request", "10m", "CPU `quantity` requested by seal-init")
	fs.StringVar(&o.memRequest, "init-memory-request", "16Mi", "memory `quantity` requested by seal-init")
	fs.StringVar(&o.memLimit, "init-memory-limit", "64Mi", "memory limit `quantity` of seal-init")
	fs.StringVar(&o.inject.TrustDomain, "trust-domain", "", "SPIFFE `trust-domain` of the ROT, for SEAL_SPIFFE_ID (required)")
	fs.StringVar(&o.metricsAddr, "metrics-addr", ":8080", "serve /metrics, /healthz and /readyz over HTTP on this `address` (empty: off)")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig `file` (default: in-cluster, $KUBECONFIG or ~/.kube/config)")
	fs.StringVar(&o.logLevel, "log-level", "info", "log `level`: debug, info, warn or error")
	fs.DurationVar(&o.shutdownGrace, "shutdown-grace", 5*time.Second, "on SIGTERM, keep serving this `duration` before draining (endpoints catch up)")
	return fs
}

func printUsage(fs *flag.FlagSet, w io.Writer) {
	fmt.Fprint(w, usageHead)
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if name != "" {
			line += " " + name
		}
		if f.DefValue != "" && f.DefValue != "0" {
			usage += " (default " + f.DefValue + ")"
		}
		fmt.Fprintf(w, "%-34s %s\n", line, usage)
	})
}

// Extension adds to seal-webhook: flags, admission endpoints by path (the image policy's /pin
// and /verify) and background work (the passthrough-Route controller).
type Extension struct {
	// Flags registers the extension's flags (optional).
	Flags func(fs *flag.FlagSet)
	// Start is called once, after the flags are parsed; background work it starts ends with ctx.
	Start func(ctx context.Context, h Host) (map[string]http.Handler, error)
}

// Host is what seal-webhook hands an extension at start.
type Host struct {
	Config    *rest.Config
	Namespace string // the webhook's own namespace
	Events    record.EventRecorder
	Log       *slog.Logger
}

// Main runs seal-webhook with args (without the program name) until ctx ends; it returns the
// exit code. Extensions add more endpoints to the same server.
func Main(ctx context.Context, args []string, stderr io.Writer, exts ...Extension) int {
	var o cliOptions
	fs := newFlagSet(&o)
	for _, ext := range exts {
		if ext.Flags != nil {
			ext.Flags(fs)
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(fs, stderr)
			return ExitOK
		}
		fmt.Fprintf(stderr, "seal-webhook: %v (see seal-webhook --help)\n", err)
		return ExitUsage
	}
	if err := o.complete(fs); err != nil {
		fmt.Fprintf(stderr, "seal-webhook: %v (see seal-webhook --help)\n", err)
		return ExitUsage
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		fmt.Fprintf(stderr, "seal-webhook: bad --log-level %q (see seal-webhook --help)\n", o.logLevel)
		return ExitUsage
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	ctrllog.SetLogger(logr.FromSlogHandler(log.Handler()))
	klog.SetSlogLogger(log)
	if err := run(ctx, &o, log, exts); err != nil {
		fmt.Fprintf(stderr, "seal-webhook: %v\n", err)
		return ExitFailure
	}
	return ExitOK
}

func (o *cliOptions) complete(fs *flag.FlagSet) error {
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	o.inject.PullPolicy = corev1.PullPolicy(o.pullPolicy)
	res := corev1.ResourceRequirements{Requests: corev1.ResourceList{}, Limits: corev1.ResourceList{}}
	for _, q := range []struct {
		flag, val string
		list      corev1.ResourceList
		name      corev1.ResourceName
	}{
		{"--init-cpu-request", o.cpuRequest, res.Requests, corev1.ResourceCPU},
		{"--init-memory-request", o.memRequest, res.Requests, corev1.ResourceMemory},
		{"--init-memory-limit", o.memLimit, res.Limits, corev1.ResourceMemory},
	} {
		if q.val == "" {
			continue
		}
		v, err := resource.ParseQuantity(q.val)
		if err != nil {
			return fmt.Errorf("bad %s %q: %v", q.flag, q.val, err)
		}
		q.list[q.name] = v
	}
	o.inject.Resources = res
	o.inject.Namespace = o.namespace
	o.inject.Version = Version
	if err := o.inject.Validate(); err != nil {
		return err
	}
	if o.port <= 0 || o.port > 65535 {
		return fmt.Errorf("bad --port %d", o.port)
	}
	return nil
}

// Version is the Seal version recorded in seal.dev/status: the build's (internal/version).
var Version = version.Get()

func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		return clientcmd.BuildConfigFromFlags("", kubeconfig)
	}
	return crconfig.GetConfig()
}

func run(ctx context.Context, o *cliOptions, log *slog.Logger, exts []Extension) error {
	cfg, err := restConfig(o.kubeconfig)
	if err != nil {
		return fmt.Errorf("kubernetes config: %w", err)
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	nsCtx, stopNS := context.WithCancel(context.WithoutCancel(ctx))
	defer stopNS()
	namespaces, err := NewNamespaceCache(nsCtx, cfg)
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	broadcaster := record.NewBroadcaster()
	defer broadcaster.Shutdown()
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: cs.CoreV1().Events("")})
	events := broadcaster.NewRecorder(scheme, corev1.EventSource{Component: "seal-webhook"})

	opts := Options{Inject: o.inject, Host: o.host, Port: o.port, CertDir: o.certDir, Namespaces: namespaces, Events: events, Log: log}
	var mgr *servingcert.Manager
	if o.certDir == "" {
		c, err := client.New(cfg, client.Options{Scheme: scheme})
		if err != nil {
			return err
		}
		svc := o.service + "." + o.namespace
		mgr = &servingcert.Manager{Client: c, Namespace: o.namespace, SecretName: o.caSecret,
			DNSNames: []string{o.service, svc, svc + ".svc", svc + ".svc.cluster.local"},
			Log:      log}
		if o.mutating != "" {
			mgr.MutatingConfigs = []string{o.mutating}
		}
		if o.validating != "" {
			mgr.ValidatingConfigs = []string{o.validating}
		}
		opts.GetCertificate = mgr.GetCertificate
		go func() { _ = mgr.Start(nsCtx) }()
	}
	for _, ext := range exts {
		hs, err := ext.Start(nsCtx, Host{Config: cfg, Namespace: o.namespace, Events: events, Log: log})
		if err != nil {
			return err
		}
		if opts.ExtraHandlers == nil {
			opts.ExtraHandlers = map[string]http.Handler{}
		}
		for path, h := range hs {
			opts.ExtraHandlers[path] = h
		}
	}
	srv, err := New(opts)
	if err != nil {
		return err
	}
	stopMetrics, err := serveMetrics(o.metricsAddr, srv, mgr, log)
	if err != nil {
		return err
	}
	defer stopMetrics()

	// On SIGTERM keep serving a moment (the Service's endpoints drop this pod meanwhile), then
	// stop accepting and finish the reviews in flight.
	serveCtx, stopServe := context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		<-ctx.Done()
		log.Info("shutting down: draining", "grace", o.shutdownGrace)
		time.Sleep(o.shutdownGrace)
		stopServe()
	}()
	defer stopServe()
	return srv.Start(serveCtx)
}

// serveMetrics serves /metrics, /healthz and /readyz over plain HTTP.
func serveMetrics(addr string, srv *Server, mgr *servingcert.Manager, log *slog.Logger) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(crmetrics.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if mgr != nil {
			if _, err := mgr.GetCertificate(nil); err != nil {
				http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		if err := srv.StartedChecker()(r); err != nil {
			http.Error(w, "not ready: "+strings.TrimSpace(err.Error()), http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second, MaxHeaderBytes: 16 << 10}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "err", err)
		}
	}()
	log.Info("serving metrics and probes", "addr", ln.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(ctx)
		<-done
	}, nil
}
