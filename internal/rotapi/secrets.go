package rotapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Paths of the secrets API.
const (
	// PathSecrets serves a pod its workload's current secrets (GET, mTLS with a pod
	// certificate of the workload; ETag / If-None-Match).
	PathSecrets = "/v1/secrets"
	// Admin API (mTLS with the admin certificate).
	PathAdminSecrets  = "/v1/admin/workloads/{name}/secrets"          // GET list (metadata)
	PathAdminSecret   = "/v1/admin/workloads/{name}/secrets/{secret}" // PUT, GET (metadata), DELETE
	PathSecretsExport = "/v1/admin/workloads/{name}/secrets-export"   // POST {recipient}: the document for an edge
)

// Limits of the secrets API.
const (
	// MaxSecretValue bounds a secret's value (before encryption).
	MaxSecretValue = 16 << 10
	// MaxSecrets bounds the number of secrets of one workload.
	MaxSecrets = 32
	// MaxSecretsDocument bounds a secrets document a reader accepts.
	MaxSecretsDocument = 4 << 20
)

// SecretsAlgorithm is the document's "algorithm": values are age files, ASCII-armored.
const SecretsAlgorithm = "age"

// Secret states in SecretInfo.
const (
	SecretValid   = "valid"   // delivered now
	SecretPending = "pending" // notBefore is in the future
	SecretExpired = "expired" // expiresAfter has passed
)

// SecretsDocument is the VSecM-shaped secrets document: GET /v1/secrets (values encrypted to
// the workload's data key) and sealctl secret export (values encrypted to an edge's recipient).
type SecretsDocument struct {
	Secrets   []SecretEntry `json:"secrets"`
	Algorithm string        `json:"algorithm"`
}

// SecretEntry is one secret of a SecretsDocument.
type SecretEntry struct {
	Name string `json:"name"`
	// Value is the age-encrypted value, ASCII-armored (-----BEGIN AGE ENCRYPTED FILE-----).
	Value   string    `json:"value"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
	// NotBefore is when delivery starts (the creation time when none was given).
	NotBefore time.Time `json:"notBefore"`
	// ExpiresAfter is when delivery stops; absent when the secret does not expire.
	ExpiresAfter *time.Time `json:"expiresAfter,omitempty"`
}

// ValidAt reports whether e is delivered at t: notBefore <= t and t <= expiresAfter.
func (e *SecretEntry) ValidAt(t time.Time) bool {
	return !t.Before(e.NotBefore) && (e.ExpiresAfter == nil || !t.After(*e.ExpiresAfter))
}

// SecretPut is the body of PUT PathAdminSecret.
type SecretPut struct {
	// Value is the secret in the clear (base64 in JSON), at most MaxSecretValue bytes.
	Value        []byte     `json:"value"`
	NotBefore    *time.Time `json:"notBefore,omitempty"`
	ExpiresAfter *time.Time `json:"expiresAfter,omitempty"`
	// Peers, when not empty, limits delivery to pods of these peers of the workload.
	Peers []string `json:"peers,omitempty"`
}

// SecretInfo is a secret's metadata as the admin API shows it: never its value.
type SecretInfo struct {
	Workload     string     `json:"workload"`
	Name         string     `json:"name"`
	Created      time.Time  `json:"created"`
	Updated      time.Time  `json:"updated"`
	NotBefore    *time.Time `json:"notBefore,omitempty"`
	ExpiresAfter *time.Time `json:"expiresAfter,omitempty"`
	// DataKeyIndex is the workload data key the stored value is encrypted to.
	DataKeyIndex int `json:"dataKeyIndex"`
	// State is valid, pending or expired, at the ROT's clock.
	State string `json:"state"`
	// Peers limits delivery to pods of these peers; empty means every pod of the workload.
	Peers []string `json:"peers,omitempty"`
}

// ExportRequest is the body of POST PathSecretsExport.
type ExportRequest struct {
	// Recipient is the edge's age X25519 recipient (age1...).
	Recipient string `json:"recipient"`
}

// ParseSecretsDocument decodes a secrets document strictly and checks it: the algorithm is
// age, every secret has a file-safe name (no duplicates) and an armored age value, and its
// window is ordered.
func ParseSecretsDocument(b []byte) (*SecretsDocument, error) {
	if len(b) > MaxSecretsDocument {
		return nil, fmt.Errorf("rotapi: secrets document is %d bytes, over the %d limit", len(b), MaxSecretsDocument)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var d SecretsDocument
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("rotapi: secrets document is not valid JSON: %v", err)
	}
	if dec.More() {
		return nil, errors.New("rotapi: secrets document has data after the JSON object")
	}
	if d.Algorithm != SecretsAlgorithm {
		return nil, fmt.Errorf("rotapi: secrets document algorithm %q, want %q", d.Algorithm, SecretsAlgorithm)
	}
	seen := map[string]bool{}
	for i, e := range d.Secrets {
		if err := CheckSecretName(e.Name); err != nil {
			return nil, fmt.Errorf("rotapi: secret %d: %w", i, err)
		}
		if seen[e.Name] {
			return nil, fmt.Errorf("rotapi: secret %q appears twice", e.Name)
		}
		seen[e.Name] = true
		if !strings.HasPrefix(strings.TrimSpace(e.Value), "-----BEGIN AGE ENCRYPTED FILE-----") {
			return nil, fmt.Errorf("rotapi: secret %q: value is not an armored age file", e.Name)
		}
		if e.ExpiresAfter != nil && e.ExpiresAfter.Before(e.NotBefore) {
			return nil, fmt.Errorf("rotapi: secret %q: expiresAfter %s is before notBefore %s", e.Name,
				e.ExpiresAfter.UTC().Format(time.RFC3339), e.NotBefore.UTC().Format(time.RFC3339))
		}
	}
	if d.Secrets == nil {
		d.Secrets = []SecretEntry{}
	}
	return &d, nil
}

// CheckSecretName accepts 1-128 letters, digits, '-', '_' and '.', not starting with '.': safe
// as a file name (/var/run/seal/secrets/NAME) and a Kubernetes Secret key.
func CheckSecretName(name string) error {
	ok := name != "" && len(name) <= 128 && name[0] != '.'
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
	}
	if !ok {
		return fmt.Errorf("secret name %q must be 1-128 letters, digits, '-', '_' or '.', not starting with '.'", name)
	}
	return nil
}

// ErrNotModified: the secrets are unchanged since the ETag given to Client.Secrets.
var ErrNotModified = errors.New("rotapi: secrets not modified")

// Secrets fetches GET /v1/secrets (the client must present a pod certificate). With etag from
// an earlier answer, an unchanged document gives ErrNotModified. It returns the document and
// its ETag.
func (c *Client) Secrets(ctx context.Context, etag string) (*SecretsDocument, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Base+PathSecrets, nil)
	if err != nil {
		return nil, "", fmt.Errorf("rotapi: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("rotapi: GET %s: %w", PathSecrets, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxSecretsDocument+1))
	if err != nil {
		return nil, "", fmt.Errorf("rotapi: reading answer to GET %s: %w", PathSecrets, err)
	}
	switch {
	case resp.StatusCode == http.StatusNotModified:
		return nil, etag, ErrNotModified
	case resp.StatusCode/100 != 2:
		var e Error
		if json.Unmarshal(raw, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(raw))
		}
		return nil, "", &StatusError{Code: resp.StatusCode, Message: e.Error}
	}
	d, err := ParseSecretsDocument(raw)
	if err != nil {
		return nil, "", err
	}
	return d, resp.Header.Get("ETag"), nil
}
