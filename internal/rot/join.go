package rot

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"

	"github.com/seal-dev/seal/internal/invite"
	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/store"
)

// joinAdmin makes this ROT join the trust domain that issued the invite (sealctl federation
// join, run with this ROT's admin): it fetches the inviter's bundle, accepts it only when it
// matches the invite's pin, then, over TLS authenticated by that bundle only, presents the
// invite with this trust domain's bundle and endpoint. Both ROTs end up holding the other's
// bundle with an https_spiffe endpoint and refresh it from then on.
func (s *Server) joinAdmin(w http.ResponseWriter, r *http.Request) {
	var in rotapi.JoinAdminRequest
	if code, err := decodeBody(w, r, &in); err != nil {
		writeError(w, code, err.Error())
		return
	}
	inv, err := invite.Parse(in.Invite)
	if err == nil {
		err = inv.CheckExpiry(s.cfg.Now())
	}
	if err == nil && inv.TrustDomain == s.td.Name() {
		err = fmt.Errorf("rot: the invite is this ROT's own (trust domain %s): run join with the other ROT's admin", inv.TrustDomain)
	}
	if err != nil {
		if errors.Is(err, invite.ErrMalformed) || errors.Is(err, invite.ErrTampered) || errors.Is(err, invite.ErrExpired) {
			err = fmt.Errorf("%w%s", err, newInviteFix)
		}
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if s.federatedWith(inv.TrustDomain) { // before the invite is spent at the other ROT
		writeError(w, http.StatusConflict, alreadyFederated(inv.TrustDomain))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*fetchTimeout)
	defer cancel()
	td := spiffeid.RequireTrustDomainFromString(inv.TrustDomain)
	pinned, doc, err := fetchPinned(ctx, inv, td)
	if err != nil {
		code := http.StatusBadGateway
		if errors.Is(err, invite.ErrPinMismatch) {
			code = http.StatusConflict
		}
		writeError(w, code, err.Error())
		return
	}
	own, _, err := s.ownBundle()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	req := rotapi.JoinRequest{Invite: strings.TrimSpace(in.Invite), TrustDomain: s.td.Name(), Bundle: string(own), BundleEndpointURL: s.bundleEndpoint()}
	ans, code, err := postJoin(ctx, inv, td, pinned, &req)
	if err != nil {
		writeError(w, code, err.Error())
		return
	}
	if ans.TrustDomain != inv.TrustDomain {
		writeError(w, http.StatusBadGateway, fmt.Sprintf("rot: the ROT at %s answered for trust domain %q, not the invite's %q", inv.URL, ans.TrustDomain, inv.TrustDomain))
		return
	}
	rec := &store.Bundle{TrustDomain: td.Name(), BundleEndpointURL: inv.BundleURL(), EndpointProfile: "https_spiffe",
		EndpointSPIFFEID: rotSPIFFEID(td), Bundle: string(doc)}
	if err := checkEndpoint(rec, td); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.st.Bundles[rec.TrustDomain]; ok {
		writeError(w, http.StatusConflict, alreadyFederated(rec.TrustDomain))
		return
	}
	if err := s.storeBundleLocked(r.Context(), rec); err != nil {
		writeError(w, storeStatus(err), err.Error())
		return
	}
	s.audit(r, "federation-join", "trustDomain", td.Name(), "invite", inv.ID, "endpoint", rec.BundleEndpointURL, "authorities", len(pinned.X509Authorities()))
	writeJSON(w, http.StatusOK, apiBundle(rec))
}

func rotSPIFFEID(td spiffeid.TrustDomain) string { return "spiffe://" + td.Name() + "/seal/rot" }

// joinClient is an HTTPS client with tc, bounded in time, keeping no connections.
func joinClient(tc *tls.Config) *http.Client {
	return &http.Client{Timeout: fetchTimeout, Transport: &http.Transport{
		TLSClientConfig: tc, TLSHandshakeTimeout: 10 * time.Second, ResponseHeaderTimeout: fetchTimeout, DisableKeepAlives: true,
	}}
}

// fetchPinned GETs the inviter's bundle and accepts it only when its X.509 authorities are the
// ones the invite pins. The TLS connection is not verified here: the document is public and is
// trusted only for its digest; nothing secret is sent on this connection.
func fetchPinned(ctx context.Context, inv *invite.Invite, td spiffeid.TrustDomain) (*spiffebundle.Bundle, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, inv.BundleURL(), nil)
	if err != nil {
		return nil, nil, fmt.Errorf("rot: invite URL: %w", err)
	}
	c := joinClient(&tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: true}) //nolint:gosec // pinned by digest below
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("rot: fetching the inviting ROT's bundle from %s: %w", inv.BundleURL(), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("rot: the inviting ROT's bundle endpoint %s answered %s", inv.BundleURL(), resp.Status)
	}
	doc, err := io.ReadAll(io.LimitReader(resp.Body, maxBundleBytes+1))
	if err != nil || len(doc) > maxBundleBytes {
		return nil, nil, fmt.Errorf("rot: reading the bundle from %s: over %d bytes or %v", inv.BundleURL(), maxBundleBytes, err)
	}
	sb, err := parseBundle(td, doc)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", invite.ErrPinMismatch, err)
	}
	if got := invite.Digest(sb.X509Authorities()); got != inv.BundleDigest {
		return nil, nil, fmt.Errorf("%w: %s serves %s, the invite pins %s (another server, or the ROT CA changed since the invite); fix: check the URL, or ask the inviting ROT's admin for a new invite", invite.ErrPinMismatch, inv.BundleURL(), got, inv.BundleDigest)
	}
	return sb, doc, nil
}

// postJoin presents the invite to the inviting ROT over TLS that accepts only its ROT identity
// under the pinned bundle. A refusal keeps the inviter's status and reason.
func postJoin(ctx context.Context, inv *invite.Invite, td spiffeid.TrustDomain, pinned *spiffebundle.Bundle, in *rotapi.JoinRequest) (*rotapi.JoinResponse, int, error) {
	body, err := json.Marshal(in)
	if err != nil {
		return nil, http.StatusInternalServerError, fmt.Errorf("rot: %w", err)
	}
	u := strings.TrimSuffix(inv.URL, "/") + rotapi.PathJoin
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf("rot: invite URL: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	c := joinClient(tlsconfig.TLSClientConfig(pinned, tlsconfig.AuthorizeID(spiffeid.RequireFromString(rotSPIFFEID(td)))))
	resp, err := c.Do(req)
	if err != nil {
		return nil, http.StatusBadGateway, fmt.Errorf("rot: joining at %s: %w", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBundleBytes+1))
	if err != nil || len(b) > maxBundleBytes {
		return nil, http.StatusBadGateway, fmt.Errorf("rot: reading the answer of %s: over %d bytes or %v", u, maxBundleBytes, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e rotapi.Error
		_ = json.Unmarshal(b, &e)
		code := http.StatusBadGateway
		if resp.StatusCode >= 400 && resp.StatusCode < 500 {
			code = resp.StatusCode
		}
		return nil, code, fmt.Errorf("rot: the inviting ROT at %s refused the join (%s): %s", inv.URL, resp.Status, strings.TrimPrefix(e.Error, "rot: "))
	}
	var out rotapi.JoinResponse
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, http.StatusBadGateway, fmt.Errorf("rot: the answer of %s is not a join response: %v", u, err)
	}
	return &out, 0, nil
}
