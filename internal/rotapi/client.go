package rotapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// StatusError is a non-2xx answer from the ROT. Callers branch on Code: a 4xx means the request
// itself is wrong (retrying will not help), a 5xx may pass.
type StatusError struct {
	Code    int
	Message string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("rotapi: ROT answered %d %s: %s", e.Code, http.StatusText(e.Code), e.Message)
}

// Temporary reports whether retrying may succeed (5xx and 429).
func (e *StatusError) Temporary() bool { return e.Code >= 500 || e.Code == http.StatusTooManyRequests }

// IsPermanent reports whether err is a 4xx answer from the ROT that retrying cannot fix.
func IsPermanent(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && !se.Temporary()
}

// Client calls a ROT.
type Client struct {
	Base string
	HTTP *http.Client
}

// NewClient returns a client for the ROT at base that trusts only the PEM roots in caPEM and,
// when cert is not nil, presents it (admin calls).
func NewClient(base string, caPEM []byte, cert *tls.Certificate) (*Client, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("rotapi: no certificate in the ROT CA PEM")
	}
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	tr := &http.Transport{
		TLSClientConfig:       cfg,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   16,
	}
	return &Client{Base: strings.TrimRight(base, "/"), HTTP: &http.Client{Transport: tr, Timeout: 60 * time.Second}}, nil
}

// Path fills {name}/{id} placeholders of a path template with escaped values.
func Path(tmpl string, args ...string) string {
	for _, a := range args {
		i := strings.IndexByte(tmpl, '{')
		j := strings.IndexByte(tmpl, '}')
		if i < 0 || j < i {
			break
		}
		tmpl = tmpl[:i] + url.PathEscape(a) + tmpl[j+1:]
	}
	return tmpl
}

// Do sends in (JSON, when not nil) to method path and decodes the answer into out (when not nil).
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("rotapi: encoding request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, body)
	if err != nil {
		return fmt.Errorf("rotapi: %w", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("rotapi: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("rotapi: reading answer to %s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		var e Error
		if json.Unmarshal(raw, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(raw))
		}
		return &StatusError{Code: resp.StatusCode, Message: e.Error}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("rotapi: decoding answer to %s %s: %w", method, path, err)
	}
	return nil
}

// Redeem exchanges an Egg and a CSR for a certificate, bundles and data keys.
func (c *Client) Redeem(ctx context.Context, r *RedeemRequest) (*RedeemResponse, error) {
	var out RedeemResponse
	if err := c.Do(ctx, http.MethodPost, PathRedeem, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
