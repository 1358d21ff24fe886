package rot

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/seal-dev/seal/internal/ca"
	"github.com/seal-dev/seal/internal/egg"
	"github.com/seal-dev/seal/internal/rotapi"
)

var errUnknownWorkload = errors.New("rot: unknown workload")

// refusal is a failed redemption: the HTTP status, the metric label and the message.
type refusal struct {
	code   int
	result string
	err    error
}

// redeem is POST /v1/redeem: Egg + CSR -> certificate, bundles, data keys.
func (s *Server) redeem(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	var req rotapi.RedeemRequest
	if code, err := decodeBody(w, r, &req); err != nil {
		result := "bad_request"
		if code == http.StatusRequestEntityTooLarge {
			result = "too_large"
		}
		s.refuse(w, r, refusal{code, result, err}, nil)
		return
	}
	resp, claims, ref := s.issueForEgg(&req)
	if ref != nil {
		s.refuse(w, r, *ref, claims)
		return
	}
	s.metrics.redemptions.WithLabelValues("ok").Inc()
	s.metrics.issuances.WithLabelValues("pod").Inc()
	s.metrics.redeemTime.Observe(time.Since(start).Seconds())
	s.log.Info("issued", "audit", true, "kind", "pod", "egg", claims.ID, "workload", claims.Workload,
		"peer", claims.Peer, "spiffeID", resp.SPIFFEID, "notAfter", resp.NotAfter, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) refuse(w http.ResponseWriter, r *http.Request, ref refusal, c *egg.Claims) {
	s.metrics.redemptions.WithLabelValues(ref.result).Inc()
	attrs := []any{"audit", true, "result", ref.result, "err", ref.err.Error(), "remote", r.RemoteAddr}
	if c != nil {
		attrs = append(attrs, "egg", c.ID, "workload", c.Workload, "peer", c.Peer)
	}
	s.log.Warn("redemption refused", attrs...)
	writeError(w, ref.code, "redeem: "+ref.err.Error())
}

func (s *Server) issueForEgg(req *rotapi.RedeemRequest) (*rotapi.RedeemResponse, *egg.Claims, *refusal) {
	v := s.v.Load()
	now := s.cfg.Now()
	o, err := egg.Parse(req.Egg)
	if err != nil {
		return nil, nil, &refusal{http.StatusBadRequest, "malformed", err}
	}
	c, err := egg.Open(v.keyring, v.td.Name(), o, now)
	switch {
	case err == nil:
	case errors.Is(err, egg.ErrWrongTrustDomain):
		return nil, nil, &refusal{http.StatusForbidden, "wrong_trust_domain", err}
	case errors.Is(err, egg.ErrExpired):
		return nil, nil, &refusal{http.StatusForbidden, "expired", err}
	case errors.Is(err, egg.ErrUnknownKey), errors.Is(err, egg.ErrInauthentic):
		return nil, nil, &refusal{http.StatusForbidden, "inauthentic", err}
	default:
		return nil, nil, &refusal{http.StatusBadRequest, "malformed", err}
	}
	if v.revoked[c.ID] {
		return nil, c, &refusal{http.StatusForbidden, "revoked", fmt.Errorf("egg %s is revoked", c.ID)}
	}
	wv, ok := v.workloads[c.Workload]
	if !ok {
		return nil, c, &refusal{http.StatusNotFound, "unknown_workload", fmt.Errorf("workload %q does not exist", c.Workload)}
	}
	if !wv.peers[c.Peer] {
		return nil, c, &refusal{http.StatusForbidden, "peer_denied", fmt.Errorf("peer %q is not a peer of workload %q", c.Peer, c.Workload)}
	}
	csr, err := ca.ParseCSR([]byte(req.CSR))
	if err != nil {
		return nil, c, &refusal{http.StatusBadRequest, "bad_csr", err}
	}
	id := spiffeID(v.td, c.Workload, c.Peer)
	leaf := ca.Leaf{
		SPIFFEID:   id,
		CommonName: c.Peer,
		DNSNames:   append([]string{c.Peer}, grantHostnames(req.Hostnames, c.Hostnames, wv.routeHosts, c.Peer)...),
		TTL:        wv.certTTL,
	}
	iss, err := wv.current.Issue(leaf, csr.PublicKey, s.opts)
	if err != nil {
		return nil, c, &refusal{http.StatusInternalServerError, "internal", err}
	}
	resp := &rotapi.RedeemResponse{
		Certificate:      string(iss.PEM(nil)) + wv.currentPEM,
		TrustBundle:      wv.bundlePEM,
		FederatedBundles: federatedFor(v, wv, req.FederatesWith),
		DataKeys:         wv.dataKeys,
		NotAfter:         iss.NotAfter.UTC(),
		SPIFFEID:         id.String(),
	}
	return resp, c, nil
}

func spiffeID(td spiffeid.TrustDomain, workload, peer string) *url.URL {
	return &url.URL{Scheme: "spiffe", Host: td.Name(), Path: "/workload/" + workload + "/peer/" + peer}
}

// grantHostnames is requested ∩ egg ∩ workload route hosts, without duplicates or the peer name.
func grantHostnames(requested, eggHosts []string, routeHosts map[string]bool, peer string) []string {
	var out []string
	for _, h := range requested {
		h = strings.ToLower(strings.TrimSpace(h))
		if h == "" || h == peer || !routeHosts[h] || slices.Contains(out, h) {
			continue
		}
		if slices.ContainsFunc(eggHosts, func(e string) bool { return strings.EqualFold(e, h) }) {
			out = append(out, h)
		}
	}
	return out
}

// federatedFor returns the bundles of the trust domains wv federates with, narrowed to want
// when it is not empty, that the ROT holds.
func federatedFor(v *view, wv *workloadView, want []string) map[string]string {
	var out map[string]string
	for _, td := range wv.federates {
		if len(want) > 0 && !slices.Contains(want, td) {
			continue
		}
		p, ok := v.federated[td]
		if !ok {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[td] = p
	}
	return out
}

// GetBundleForTrustDomain makes the Server a spiffebundle.Source for the bundle endpoint: it
// serves this trust domain's ROT CA(s) with a refresh hint and sequence number.
func (s *Server) GetBundleForTrustDomain(td spiffeid.TrustDomain) (*spiffebundle.Bundle, error) {
	v := s.v.Load()
	if td != v.td {
		return nil, fmt.Errorf("rot: no bundle for trust domain %q", td)
	}
	return v.bundle, nil
}
