package podtoken

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
)

const (
	// MaxJWKSBytes bounds a fetched JWKS document.
	MaxJWKSBytes = 1 << 20
	fetchTimeout = 30 * time.Second
)

// CheckURL checks that u is an https URL a JWKS can be fetched from.
func CheckURL(u string) error {
	p, err := url.Parse(u)
	if err != nil || p.Scheme != "https" || p.Host == "" {
		return fmt.Errorf("podtoken: jwksURL %q must be an https URL", u)
	}
	return nil
}

// Fetch GETs the JWKS document at u, trusting the PEM CAs in caPEM (the system roots when
// empty), and checks it parses (ParseJWKS).
func Fetch(ctx context.Context, u string, caPEM []byte) ([]byte, error) {
	if err := CheckURL(u); err != nil {
		return nil, err
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(caPEM) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, errors.New("podtoken: the JWKS CA holds no PEM certificate")
		}
		tc.RootCAs = pool
	}
	client := &http.Client{
		Timeout: fetchTimeout,
		Transport: &http.Transport{
			TLSClientConfig: tc, TLSHandshakeTimeout: 10 * time.Second, ResponseHeaderTimeout: fetchTimeout,
			DisableKeepAlives: true, Proxy: http.ProxyFromEnvironment,
		},
	}
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("podtoken: %w", err)
	}
	req.Header.Set("Accept", "application/json, application/jwk-set+json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("podtoken: fetching JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("podtoken: fetching JWKS: %s answered %s", u, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("podtoken: reading JWKS: %w", err)
	}
	if len(body) > MaxJWKSBytes {
		return nil, fmt.Errorf("podtoken: the JWKS at %s is over %d bytes", u, MaxJWKSBytes)
	}
	if _, err := ParseJWKS(body); err != nil {
		return nil, fmt.Errorf("podtoken: %s: %w", u, err)
	}
	return body, nil
}

// Backoff is the wait before fetching again after failures consecutive failures: 30s
// doubling to at most max.
func Backoff(failures int, max time.Duration) time.Duration {
	if failures <= 0 {
		return 0
	}
	return min(30*time.Second<<min(failures-1, 6), max)
}
