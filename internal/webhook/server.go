package webhook

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/tools/record"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/seal-dev/seal/internal/inject"
)

// PathInject is where the pod injection review is served.
const PathInject = "/inject"

// maxReviewTime bounds writing one answer: past the API server's 30 s webhook timeout
// nobody is waiting for it.
const maxReviewTime = 35 * time.Second

// DefaultMaxBodyBytes caps an AdmissionReview: a Pod is at most ~1.5 MiB in etcd, and a CREATE
// review carries one object.
const DefaultMaxBodyBytes = 3 << 20

// Options configure a Server.
type Options struct {
	// Inject is the mutation's configuration (validated by New).
	Inject inject.Config
	// Host and Port to listen on (Port 0 means 9443, controller-runtime's default).
	Host string
	Port int
	// CertDir holds tls.crt and tls.key (reloaded when they change). Ignored when
	// GetCertificate is set.
	CertDir string
	// GetCertificate serves a managed certificate (package servingcert).
	GetCertificate func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	// Namespaces gives namespace labels (NewNamespaceCache in a cluster).
	Namespaces NamespaceLabels
	// Events, when set, records an Event on the pod's owner when injection is refused.
	Events record.EventRecorder
	// Registry takes the metrics; default controller-runtime's registry (served by MetricsHandler).
	Registry prometheus.Registerer
	// ExtraHandlers are more admission endpoints by path (e.g. /pin and /verify). They get the
	// same body cap and read deadline as /inject.
	ExtraHandlers map[string]http.Handler
	// MaxBodyBytes caps request bodies (default DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// ReadTimeout bounds reading one request (default 10s, the API server's webhook timeout).
	ReadTimeout time.Duration
	// Log defaults to slog.Default().
	Log *slog.Logger
}

// Server is seal-webhook's admission server.
type Server struct {
	opts   Options
	cfg    inject.Config
	server crwebhook.Server
}

// New checks o and registers the handlers.
func New(o Options) (*Server, error) {
	cfg := o.Inject.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if o.Namespaces == nil {
		return nil, errors.New("webhook: Options.Namespaces is required")
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Registry == nil {
		o.Registry = crmetrics.Registry
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = 10 * time.Second
	}
	m, err := newMetrics(o.Registry)
	if err != nil {
		return nil, fmt.Errorf("webhook: metrics: %w", err)
	}
	s := &Server{opts: o, cfg: cfg}
	tlsOpts := []func(*tls.Config){func(c *tls.Config) { c.MinVersion = tls.VersionTLS12 }}
	if o.GetCertificate != nil {
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.GetCertificate = o.GetCertificate })
	}
	s.server = crwebhook.NewServer(crwebhook.Options{Host: o.Host, Port: o.Port, CertDir: o.CertDir, TLSOpts: tlsOpts})
	// A fixed logger: controller-runtime's default adds values per request, which its
	// delegating logger keeps forever when ctrl.SetLogger was never called.
	reviewLog := logr.FromSlogHandler(o.Log.Handler()).WithName("inject")
	injectHook := &admission.Webhook{
		Handler:        &injectHandler{cfg: &s.cfg, namespaces: o.Namespaces, events: o.Events, metrics: m, log: o.Log},
		LogConstructor: func(logr.Logger, *admission.Request) logr.Logger { return reviewLog },
	}
	s.server.Register(PathInject, s.bounded(injectHook))
	for path, h := range o.ExtraHandlers {
		if path == PathInject {
			return nil, fmt.Errorf("webhook: extra handler path %s is taken", path)
		}
		s.server.Register(path, s.bounded(h))
	}
	return s, nil
}

// Handler is the mux of every endpoint, without TLS (for in-process tests and benchmarks).
func (s *Server) Handler() http.Handler { return s.server.WebhookMux() }

// Start serves until ctx ends, then stops accepting connections and waits (up to a minute) for
// the reviews in flight to be answered.
func (s *Server) Start(ctx context.Context) error {
	s.opts.Log.Info("serving admission webhooks", "addr", net.JoinHostPort(s.opts.Host, strconv.Itoa(s.opts.Port)))
	return s.server.Start(ctx)
}

// StartedChecker reports whether the server accepts TLS connections (for /readyz).
func (s *Server) StartedChecker() func(*http.Request) error { return s.server.StartedChecker() }

// bounded caps the body and bounds the time to read a request.
func (s *Server) bounded(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > s.opts.MaxBodyBytes {
			http.Error(w, "seal: request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(time.Now().Add(s.opts.ReadTimeout))
		// The API server waits at most 30 s (timeoutSeconds' ceiling) for an answer; a client
		// that stops reading must not hold the connection longer.
		_ = rc.SetWriteDeadline(time.Now().Add(maxReviewTime))
		r.Body = &jsonObjectBody{ReadCloser: http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes)}
		h.ServeHTTP(w, r)
	})
}

// errNotJSONObject stops a body that is not a JSON object before a decoder sees it:
// controller-runtime's decoder would also accept YAML, whose parser is slow on hostile input.
var errNotJSONObject = errors.New("seal: the request body is not a JSON object")

// jsonObjectBody fails the read unless the first non-space byte is '{'.
type jsonObjectBody struct {
	io.ReadCloser
	checked bool
}

func (b *jsonObjectBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	for i := 0; !b.checked && i < n; i++ {
		switch p[i] {
		case ' ', '\t', '\r', '\n':
		case '{':
			b.checked = true
		default:
			return 0, errNotJSONObject
		}
	}
	return n, err
}
