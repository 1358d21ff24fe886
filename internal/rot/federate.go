package rot

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"

	"github.com/seal-dev/seal/internal/ca"
	"github.com/seal-dev/seal/internal/store"
)

const (
	maxBundleBytes   = 1 << 20
	fetchTimeout     = 30 * time.Second
	minRefresh       = 30 * time.Second
	maxRetryInterval = refreshHint
	refreshCheck     = 15 * time.Second
)

// checkEndpoint validates the bundle endpoint fields of an imported bundle.
func checkEndpoint(fb *store.Bundle, td spiffeid.TrustDomain) error {
	if fb.BundleEndpointURL == "" {
		if fb.EndpointProfile != "" || fb.EndpointSPIFFEID != "" {
			return errors.New("rot: endpointProfile and endpointSPIFFEID need a bundleEndpointURL")
		}
		return nil
	}
	u, err := url.Parse(fb.BundleEndpointURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("rot: bundleEndpointURL %q must be an https URL", fb.BundleEndpointURL)
	}
	switch fb.EndpointProfile {
	case "https_spiffe":
		id, err := spiffeid.FromString(fb.EndpointSPIFFEID)
		if err != nil {
			return fmt.Errorf("rot: endpointSPIFFEID %q: %v", fb.EndpointSPIFFEID, err)
		}
		if id.TrustDomain() != td {
			return fmt.Errorf("rot: endpointSPIFFEID %q is not in trust domain %q, whose bundle authenticates it", fb.EndpointSPIFFEID, td.Name())
		}
	case "https_web":
		if fb.EndpointSPIFFEID != "" {
			return errors.New("rot: endpointSPIFFEID is only for the https_spiffe profile")
		}
	default:
		return fmt.Errorf("rot: endpointProfile %q must be https_spiffe or https_web", fb.EndpointProfile)
	}
	return nil
}

// fetchBundle GETs a trust domain's bundle from its endpoint. https_spiffe authenticates the
// endpoint with the bundle we hold for that domain and its endpoint SPIFFE ID; https_web uses
// webRoots (the system roots when nil).
func fetchBundle(ctx context.Context, fb *store.Bundle, held *spiffebundle.Bundle, webRoots *x509.CertPool) (*spiffebundle.Bundle, error) {
	td := held.TrustDomain()
	var tc *tls.Config
	if fb.EndpointProfile == "https_spiffe" {
		id, err := spiffeid.FromString(fb.EndpointSPIFFEID)
		if err != nil {
			return nil, err
		}
		tc = tlsconfig.TLSClientConfig(held, tlsconfig.AuthorizeID(id))
	} else {
		tc = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: webRoots}
	}
	client := &http.Client{
		Timeout: fetchTimeout,
		Transport: &http.Transport{
			TLSClientConfig: tc, TLSHandshakeTimeout: 10 * time.Second, ResponseHeaderTimeout: fetchTimeout,
			DisableKeepAlives: true,
		},
	}
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fb.BundleEndpointURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("bundle endpoint answered %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBundleBytes+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxBundleBytes {
		return nil, fmt.Errorf("bundle document is over %d bytes", maxBundleBytes)
	}
	b, err := spiffebundle.Parse(td, body)
	if err != nil {
		return nil, err
	}
	if len(b.X509Authorities()) == 0 {
		return nil, errors.New("bundle has no X.509 authorities")
	}
	if err := ca.CheckTrustDomain(td, b.X509Authorities()); err != nil {
		return nil, err
	}
	return b, nil
}

// RefreshBundles fetches every federated bundle that has a bundle endpoint and is due (its
// refresh hint has passed since the last success, or a backoff since the last failure), or
// all of them when force is set. Successes replace the bundle; failures keep the old one and
// record lastError. It runs every 15 seconds in Serve.
func (s *Server) RefreshBundles(ctx context.Context, force bool) {
	s.mu.Lock()
	var due []store.Bundle
	now := s.cfg.Now()
	for td, fb := range s.st.Bundles {
		if fb.BundleEndpointURL == "" {
			continue
		}
		if force || !now.Before(s.nextFetch[td]) {
			due = append(due, *fb)
		}
	}
	s.mu.Unlock()
	for _, fb := range due {
		s.refreshOne(ctx, fb)
	}
}

func (s *Server) refreshOne(ctx context.Context, fb store.Bundle) {
	td, err := spiffeid.TrustDomainFromString(fb.TrustDomain)
	if err != nil {
		return
	}
	held, err := spiffebundle.Parse(td, []byte(fb.Bundle))
	if err != nil {
		return
	}
	fetched, ferr := fetchBundle(ctx, &fb, held, s.cfg.FederationRoots)
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.st.Bundles[fb.TrustDomain]
	if !ok || cur.BundleEndpointURL != fb.BundleEndpointURL {
		return // deleted or re-imported meanwhile
	}
	rec := *cur
	var pem string
	if ferr == nil {
		doc, err := fetched.Marshal()
		if err == nil {
			rec.Bundle = string(doc)
			pem, err = bundlePEM(&rec)
		}
		ferr = err
	}
	if ferr != nil {
		s.metrics.refreshes.WithLabelValues(fb.TrustDomain, "error").Inc()
		s.fetchFailures[fb.TrustDomain]++
		backoff := minRefresh << min(s.fetchFailures[fb.TrustDomain]-1, 4)
		s.nextFetch[fb.TrustDomain] = now.Add(min(backoff, maxRetryInterval))
		rec = *cur
		rec.LastError = ferr.Error()
		s.log.Warn("federated bundle refresh failed", "trustDomain", fb.TrustDomain, "url", fb.BundleEndpointURL, "err", ferr, "failures", s.fetchFailures[fb.TrustDomain])
	} else {
		s.metrics.refreshes.WithLabelValues(fb.TrustDomain, "ok").Inc()
		delete(s.fetchFailures, fb.TrustDomain)
		hint := refreshHint
		if h, ok := fetched.RefreshHint(); ok && h > 0 {
			hint = max(h, minRefresh)
		}
		s.nextFetch[fb.TrustDomain] = now.Add(hint)
		rec.LastError = ""
		rec.LastRefreshed = &now
		if seq, ok := fetched.SequenceNumber(); ok {
			rec.SequenceNumber = seq
		}
	}
	if err := s.cfg.Store.PutBundle(ctx, &rec); err != nil {
		s.log.Error("saving federated bundle", "trustDomain", fb.TrustDomain, "err", err)
		return
	}
	s.st.Bundles[fb.TrustDomain] = &rec
	if pem != "" {
		nv := s.v.Load().clone()
		nv.federated[fb.TrustDomain] = pem
		s.v.Store(nv)
		s.log.Info("refreshed federated bundle", "audit", true, "trustDomain", fb.TrustDomain, "sequence", rec.SequenceNumber, "authorities", len(fetched.X509Authorities()))
	}
}
