package rot

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spiffe/go-spiffe/v2/federation"

	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/store"
	"github.com/seal-dev/seal/internal/version"
)

// methods routes one path by method and answers others with a JSON 405.
type methods map[string]http.HandlerFunc

func (m methods) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h, ok := m[r.Method]
	if !ok {
		allow := make([]string, 0, len(m))
		for k := range m {
			allow = append(allow, k)
		}
		slices.Sort(allow)
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("rot: method %s not allowed on %s (allowed: %s)", r.Method, r.URL.Path, strings.Join(allow, ", ")))
		return
	}
	h(w, r)
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	bundle, err := federation.NewHandler(s.td, s)
	if err != nil {
		panic(err) // only option errors, and we pass none
	}
	mux.Handle(rotapi.PathRedeem, methods{http.MethodPost: s.redeem})
	mux.Handle(rotapi.PathBundle, methods{http.MethodGet: bundle.ServeHTTP})
	mux.Handle(rotapi.PathHealthz, methods{http.MethodGet: func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "version": version.Get()})
	}})
	mux.Handle(rotapi.PathReadyz, methods{http.MethodGet: s.readyz})
	mux.Handle(rotapi.PathMetrics, methods{http.MethodGet: promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}).ServeHTTP})

	admin := func(h http.HandlerFunc) http.HandlerFunc { return s.requireAdmin(s.refuseWhileDrained(h)) }
	s.drainRoutes(mux)
	mux.Handle(rotapi.PathWorkloads, methods{http.MethodGet: admin(s.listWorkloads), http.MethodPost: admin(s.createWorkload)})
	mux.Handle(rotapi.PathWorkload, methods{http.MethodGet: admin(s.getWorkload), http.MethodDelete: admin(s.deleteWorkload)})
	mux.Handle(rotapi.PathEggs, methods{http.MethodGet: admin(s.listEggs), http.MethodPost: admin(s.mintEgg)})
	mux.Handle(rotapi.PathEgg, methods{http.MethodDelete: admin(s.revokeEgg)})
	mux.Handle(rotapi.PathCert, methods{http.MethodPost: admin(s.externalCert)})
	mux.Handle(rotapi.PathKeys, methods{http.MethodGet: admin(s.currentKey), http.MethodPost: admin(s.rotateKey)})
	mux.Handle(rotapi.PathBundles, methods{http.MethodGet: admin(s.listBundles), http.MethodPost: admin(s.importBundle)})
	mux.Handle(rotapi.PathExport, methods{http.MethodGet: admin(bundle.ServeHTTP)})
	s.rotationRoutes(mux, admin)
	mux.Handle(rotapi.PathJWTSVID, methods{http.MethodPost: s.podRoute(s.mintJWTSVID)})
	mux.Handle(rotapi.PathJWTBundles, methods{http.MethodGet: s.podRoute(s.jwtBundles)})
	mux.Handle(rotapi.PathRotateJWTKey, methods{http.MethodPost: admin(s.rotateJWTKey)})
	s.clusterRoutes(mux, admin)
	s.secretsRoutes(mux, admin)
	s.federationRoutes(mux, admin)
	s.attestRoutes(mux, admin)
	s.imageKeyRoutes(mux, admin)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("rot: no route %s %s", r.Method, r.URL.Path))
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		mux.ServeHTTP(w, r)
		route := r.Pattern
		if route == "" {
			route = "none"
		}
		s.metrics.requestTime.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	v := s.v.Load()
	if v == nil || s.serving.Load() == nil {
		writeError(w, http.StatusServiceUnavailable, "rot: not ready")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "trustDomain": v.td.Name(), "workloads": len(v.workloads)})
}

// requireAdmin lets a request through only when its TLS client certificate is the admin
// identity: a leaf signed directly by a ROT CA, with the URI SAN spiffe://TD/seal/admin and
// client-auth usage. A pod SVID (signed by a Workload CA) or any other name is refused.
func (s *Server) requireAdmin(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := s.checkAdmin(r); err != nil {
			s.log.Warn("admin request refused", "audit", true, "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "err", err)
			code := http.StatusForbidden // a certificate was shown, but it is not the admin's
			if errors.Is(err, errNoClientCert) {
				code = http.StatusUnauthorized
			}
			writeError(w, code, err.Error())
			return
		}
		h(w, r)
	}
}

var errNoClientCert = errors.New("rot: admin API requires the admin client certificate (mTLS)")

func (s *Server) checkAdmin(r *http.Request) error {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return errNoClientCert
	}
	leaf := r.TLS.PeerCertificates[0]
	v := s.v.Load()
	roots := x509.NewCertPool()
	for _, c := range v.roots {
		roots.AddCert(c.Cert)
	}
	// No intermediates: the admin certificate is signed by the ROT CA itself.
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots:       roots,
		CurrentTime: s.cfg.Now(),
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err != nil {
		return fmt.Errorf("rot: client certificate is not an admin certificate of this ROT: %v", err)
	}
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != s.adminID {
		return fmt.Errorf("rot: client certificate does not carry the admin identity %s", s.adminID)
	}
	return s.checkAdminSerial(leaf)
}

// adminID returns the identity for audit lines.
func auditSubject(r *http.Request) string {
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		c := r.TLS.PeerCertificates[0]
		return fmt.Sprintf("%s serial=%x", c.Subject.CommonName, c.SerialNumber)
	}
	return "anonymous"
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "rot: encoding answer: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, code int, msg string) {
	b, _ := json.Marshal(rotapi.Error{Error: msg})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}

// storeStatus is the HTTP status of a failed change: 409 when another ROT replica changed the
// shared state first (the store's Notifier makes this ROT reload; the admin retries), 503 when
// the store did not answer (the API server is down: retry later), else 500.
func storeStatus(err error) int {
	switch {
	case errors.Is(err, store.ErrConflict):
		return http.StatusConflict
	case errors.Is(err, store.ErrUnavailable):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// decodeBody reads a JSON body of at most rotapi.MaxBodyBytes into v. It returns the HTTP
// status to answer with when it fails.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) (int, error) {
	r.Body = http.MaxBytesReader(w, r.Body, rotapi.MaxBodyBytes)
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return http.StatusRequestEntityTooLarge, fmt.Errorf("rot: request body is over the %d-byte limit", mbe.Limit)
		}
		return http.StatusBadRequest, fmt.Errorf("rot: request body is not valid JSON: %v", err)
	}
	if dec.More() {
		return http.StatusBadRequest, errors.New("rot: request body has data after the JSON object")
	}
	return 0, nil
}
