package rot

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/seal-dev/seal/internal/rotapi"
)

// Split moves the admin API and /metrics off the public listener (seal-rot serve
// --admin-listen, --metrics-listen). A nil listener keeps that part on the public one.
type Split struct {
	// Admin serves only /v1/admin/... (TLS, admin client certificate), which then answer 404
	// on the public listener.
	Admin net.Listener
	// Metrics serves only /metrics, over plain HTTP so Prometheus needs neither the ROT CA
	// nor a client certificate; /metrics then answers 404 on the public listener.
	Metrics net.Listener
}

// Serve serves TLS on ln until ctx ends, then shuts down gracefully (in-flight requests get up
// to 10 seconds). It also runs the hourly CA rotation check and, when the store is a
// store.Notifier, reloads the state when it changes.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	return s.ServeSplit(ctx, ln, Split{})
}

// ServeSplit is Serve with the admin API and /metrics on their own listeners when sp sets
// them. It returns when ctx ends or any listener fails.
func (s *Server) ServeSplit(ctx context.Context, ln net.Listener, sp Split) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type part struct {
		name string
		hs   *http.Server
		ln   net.Listener
	}
	pub := s.HTTPServer()
	pub.Handler = onlyPaths(s.handler, func(p string) bool {
		return !(sp.Admin != nil && isAdminPath(p) || sp.Metrics != nil && isMetricsPath(p))
	})
	parts := []part{{"public", pub, tls.NewListener(ln, pub.TLSConfig)}}
	if sp.Admin != nil {
		hs := s.HTTPServer()
		hs.Handler = onlyPaths(s.handler, isAdminPath)
		parts = append(parts, part{"admin", hs, tls.NewListener(sp.Admin, hs.TLSConfig)})
	}
	if sp.Metrics != nil {
		hs := s.HTTPServer()
		hs.Handler, hs.TLSConfig = onlyPaths(s.handler, isMetricsPath), nil
		parts = append(parts, part{"metrics", hs, sp.Metrics})
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.background(ctx)
	}()
	errc := make(chan error, len(parts))
	for _, p := range parts {
		go func() { errc <- p.hs.Serve(p.ln) }()
		s.log.Info("serving", "listener", p.name, "addr", p.ln.Addr().String(), "trustDomain", s.td.Name(), "externalURL", s.cfg.ExternalURL)
	}
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
	}
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	var serr []error
	for _, p := range parts {
		if e := p.hs.Shutdown(sctx); e != nil {
			serr = append(serr, e)
		}
	}
	cancel()
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	if err == nil {
		err = errors.Join(serr...)
	}
	return err
}

// isAdminPath and isMetricsPath look at the cleaned, decoded path, so "//v1/./admin/x" and
// escaped forms count as what the router would serve.
func isAdminPath(p string) bool {
	p = path.Clean("/" + p)
	return p == "/v1/admin" || strings.HasPrefix(p, "/v1/admin/")
}

func isMetricsPath(p string) bool { return path.Clean("/"+p) == rotapi.PathMetrics }

// onlyPaths serves the requests whose path allow accepts and answers 404 to the rest.
func onlyPaths(h http.Handler, allow func(string) bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !allow(r.URL.Path) {
			writeError(w, http.StatusNotFound, fmt.Sprintf("rot: no route %s %s on this listener", r.Method, r.URL.Path))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// ListenAndServe is seal-rot serve: it builds a Server on cfg.Store and serves on addr until
// ctx ends. It does not close the store.
func ListenAndServe(ctx context.Context, cfg Config, addr string) error {
	return ListenAndServeSplit(ctx, cfg, addr, "", "")
}

// ListenAndServeSplit is ListenAndServe with the admin API on adminAddr and /metrics on
// metricsAddr when they are not empty (see Split).
func ListenAndServeSplit(ctx context.Context, cfg Config, addr, adminAddr, metricsAddr string) error {
	var sp Split
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	listen := func(a string) (net.Listener, error) {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			return nil, fmt.Errorf("rot: %w", err)
		}
		lns = append(lns, ln)
		return ln, nil
	}
	ln, err := listen(addr)
	if err != nil {
		return err
	}
	for _, a := range []string{addr, adminAddr} {
		if host, _, err := net.SplitHostPort(a); err == nil && host != "" {
			cfg.Hosts = append(cfg.Hosts, host)
		}
	}
	if adminAddr != "" {
		if sp.Admin, err = listen(adminAddr); err != nil {
			return err
		}
	}
	if metricsAddr != "" {
		if sp.Metrics, err = listen(metricsAddr); err != nil {
			return err
		}
	}
	s, err := New(ctx, cfg)
	if err != nil {
		return err
	}
	return s.ServeSplit(ctx, ln, sp)
}
