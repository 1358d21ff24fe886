package rot

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/seal-dev/seal/internal/ca"
	"github.com/seal-dev/seal/internal/store"
)

// TLSConfig serves the ROT's certificate (renewed in memory before it expires) and asks for,
// without requiring, a client certificate: admin routes check it themselves.
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"h2", "http/1.1"},
		ClientAuth: tls.RequestClientCert,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			c := s.serving.Load()
			if c.Leaf != nil && s.cfg.Now().After(c.Leaf.NotAfter.Add(-servingTTL/3)) {
				return s.renewServing()
			}
			return c, nil
		},
	}
}

// renewServing issues a fresh serving certificate from the current ROT CA.
func (s *Server) renewServing() (*tls.Certificate, error) { return s.issueServing(false) }

// renewServingNow replaces the serving certificate even if it is fresh (after a ROT CA
// rotation or retirement); on failure the old one stays and renewal is retried when due.
func (s *Server) renewServingNow() {
	if _, err := s.issueServing(true); err != nil {
		s.log.Error("renewing the serving certificate failed", "err", err)
	}
}

func (s *Server) issueServing(force bool) (*tls.Certificate, error) {
	s.servingMu.Lock()
	defer s.servingMu.Unlock()
	if c := s.serving.Load(); !force && c != nil && c.Leaf != nil && s.cfg.Now().Before(c.Leaf.NotAfter.Add(-servingTTL/3)) {
		return c, nil
	}
	v := s.v.Load()
	l := ca.Leaf{SPIFFEID: s.rotID, CommonName: "seal-rot", TTL: servingTTL, Server: true}
	hosts := append([]string{"localhost", "127.0.0.1", "::1"}, s.cfg.Hosts...)
	if u, err := url.Parse(s.cfg.ExternalURL); err == nil {
		hosts = append(hosts, u.Hostname())
	}
	seen := map[string]bool{}
	for _, h := range hosts {
		h = strings.ToLower(strings.Trim(h, "[]"))
		if h == "" || seen[h] {
			continue
		}
		seen[h] = true
		if ip := net.ParseIP(h); ip != nil {
			if !ip.IsUnspecified() {
				l.IPs = append(l.IPs, ip)
			}
			continue
		}
		l.DNSNames = append(l.DNSNames, h)
	}
	// Sign with the oldest ROT CA that outlives the certificate: every Egg still in use
	// carries it in its rotCA, also those minted before a ROT CA rotation.
	signer, now := v.root, s.cfg.Now()
	for _, c := range v.roots {
		if !now.Before(c.Cert.NotBefore) && c.Cert.NotAfter.After(now.Add(servingTTL)) {
			signer = c
			break
		}
	}
	iss, key, err := signer.IssueWithKey(l, s.opts)
	if err != nil {
		return nil, fmt.Errorf("rot: serving certificate: %w", err)
	}
	cert := &tls.Certificate{Certificate: [][]byte{iss.DER}, PrivateKey: key}
	if cert.Leaf, err = parseLeaf(iss.DER); err != nil {
		return nil, err
	}
	s.serving.Store(cert)
	s.metrics.issuances.WithLabelValues("serving").Inc()
	s.log.Info("issued serving certificate", "spiffeID", s.rotID.String(), "dns", l.DNSNames, "ips", l.IPs, "notAfter", iss.NotAfter)
	return cert, nil
}

// HTTPServer returns an http.Server for the ROT with timeouts on every phase.
func (s *Server) HTTPServer() *http.Server {
	return &http.Server{
		Handler:           s.handler,
		TLSConfig:         s.TLSConfig(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
}

func (s *Server) background(ctx context.Context) {
	var changed <-chan struct{}
	if n, ok := s.cfg.Store.(store.Notifier); ok {
		changed = n.Changed(ctx)
	}
	t := time.NewTicker(rotateEvery)
	defer t.Stop()
	fed := time.NewTicker(refreshCheck)
	defer fed.Stop()
	s.RefreshBundles(ctx, false)
	s.RefreshJWKS(ctx, false)
	for {
		select {
		case <-ctx.Done():
			return
		case <-fed.C:
			s.RefreshBundles(ctx, false)
			s.RefreshJWKS(ctx, false)
		case <-t.C:
			if err := s.Rotate(ctx); err != nil {
				s.log.Error("CA rotation failed", "err", err)
			}
		case _, ok := <-changed:
			if !ok {
				changed = nil
				continue
			}
			if err := s.Reload(ctx); err != nil {
				s.log.Error("reloading state failed; serving the previous state", "err", err)
			}
		}
	}
}

// Reload reads the state from the store again and serves it (for stores other processes
// change). On error the previous state stays.
func (s *Server) Reload(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reloadLocked(ctx)
}

func (s *Server) reloadLocked(ctx context.Context) error {
	st, err := s.cfg.Store.Load(ctx)
	if err != nil {
		return fmt.Errorf("rot: reloading state: %w", err)
	}
	if st.Authority == nil || st.Authority.TrustDomain != s.td.Name() {
		return fmt.Errorf("%w: reloaded state has no authority for %q", store.ErrCorrupt, s.td.Name())
	}
	v, err := buildView(st, s.cfg.Now(), s.opts)
	if err != nil {
		return err
	}
	s.st = st
	s.v.Store(v)
	s.publishSecretsLocked()
	s.setAdmins(st.Authority)
	s.metrics.workloads.Set(float64(len(st.Workloads)))
	return nil
}
