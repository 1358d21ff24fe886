package webhook

import (
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/go-logr/logr"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// maxReviewTime bounds writing one answer: past the API server's 30 s webhook timeout
// nobody is waiting for it.
const maxReviewTime = 35 * time.Second

// DefaultMaxBodyBytes caps an AdmissionReview: a Pod is at most ~1.5 MiB in etcd, and a CREATE
// review carries one object.
const DefaultMaxBodyBytes = 3 << 20

// ServerOptions configure the HTTPS server that every admission endpoint of seal-webhook
// shares (/inject, /pin, /verify).
type ServerOptions struct {
	// Host and Port to listen on (Port 0 means 9443, controller-runtime's default).
	Host string
	Port int
	// CertDir holds tls.crt and tls.key (reloaded when they change). Ignored when
	// GetCertificate is set.
	CertDir string
	// GetCertificate serves a managed certificate (package servingcert).
	GetCertificate func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	// MaxBodyBytes caps request bodies (default DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// ReadTimeout bounds reading one request (default 10s, the API server's webhook timeout).
	ReadTimeout time.Duration
	// Log defaults to slog.Default(); reviews log through it.
	Log *slog.Logger
}

// NewServer returns controller-runtime's webhook server, for manager.Options.WebhookServer,
// made safe for every endpoint registered on it: each gets the body cap, the read and write
// deadlines and the JSON-object check, and an admission.Webhook without a LogConstructor gets
// a fixed review logger named after its path.
func NewServer(o ServerOptions) crwebhook.Server {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = 10 * time.Second
	}
	tlsOpts := []func(*tls.Config){func(c *tls.Config) { c.MinVersion = tls.VersionTLS12 }}
	if o.GetCertificate != nil {
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.GetCertificate = o.GetCertificate })
	}
	return &server{
		Server: crwebhook.NewServer(crwebhook.Options{Host: o.Host, Port: o.Port, CertDir: o.CertDir, TLSOpts: tlsOpts}),
		opts:   o,
		log:    logr.FromSlogHandler(o.Log.Handler()),
	}
}

// server bounds every endpoint registered on controller-runtime's webhook server.
type server struct {
	crwebhook.Server
	opts ServerOptions
	log  logr.Logger
}

// Register serves hook at path, bounded.
func (s *server) Register(path string, hook http.Handler) {
	if wh, ok := hook.(*admission.Webhook); ok && wh.LogConstructor == nil {
		// A fixed logger: controller-runtime's default adds values per request, which its
		// delegating logger keeps forever when ctrl.SetLogger was never called.
		reviewLog := s.log.WithName(strings.TrimPrefix(path, "/"))
		wh.LogConstructor = func(logr.Logger, *admission.Request) logr.Logger { return reviewLog }
	}
	s.Server.Register(path, s.bounded(hook))
}

// bounded caps the body and bounds the time to read a request.
func (s *server) bounded(h http.Handler) http.Handler {
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
