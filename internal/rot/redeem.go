package rot

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"golang.org/x/sync/singleflight"

	"github.com/seal-dev/seal/internal/ca"
	"github.com/seal-dev/seal/internal/egg"
	"github.com/seal-dev/seal/internal/rotapi"
)

var errUnknownWorkload = errors.New("rot: unknown workload")

// missReloadGap is the least time between two reloads of the state for Eggs without a record:
// a reload lists the whole store, and an Egg whose record is really gone must not make every
// request do it.
const missReloadGap = time.Second

// refusal is a failed redemption: the HTTP status, the metric label and the message, and for
// a 429 the wait to send in Retry-After.
type refusal struct {
	code   int
	result string
	err    error
	wait   time.Duration
}

// redeemState is what the redemption path keeps between requests: the rate limits and the
// coalescing of reloads for Eggs without a record.
type redeemState struct {
	perEgg, perClient *buckets

	reloads    singleflight.Group
	lastReload time.Time // guarded by reloads (one call at a time)
}

func newRedeemState(l *RedeemLimits) (*redeemState, error) {
	if l == nil {
		l = &DefaultRedeemLimits
	}
	if err := l.Check(); err != nil {
		return nil, err
	}
	return &redeemState{perEgg: newBuckets(l.PerEgg, l.MaxTracked), perClient: newBuckets(l.PerClient, l.MaxTracked)}, nil
}

// redeem is POST /v1/redeem: Egg + CSR -> certificate, bundles, data keys.
func (s *Server) redeem(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if wait, ok := s.redeemSt.perClient.take(clientKey(r), s.cfg.Now()); !ok {
		s.refuse(w, r, refusal{http.StatusTooManyRequests, "rate_limited_client",
			fmt.Errorf("too many requests from %s: retry in %s", clientKey(r), retryAfter(wait)+"s"), wait}, nil)
		return
	}
	var req rotapi.RedeemRequest
	if code, err := decodeBody(w, r, &req); err != nil {
		result := "bad_request"
		if code == http.StatusRequestEntityTooLarge {
			result = "too_large"
		}
		s.refuse(w, r, refusal{code, result, err, 0}, nil)
		return
	}
	ctx, pod := withPodSlot(r.Context())
	resp, claims, ref := s.issueForEgg(ctx, &req)
	if ref != nil {
		s.refuse(w, r, *ref, claims)
		return
	}
	s.metrics.redemptions.WithLabelValues("ok").Inc()
	s.metrics.issuances.WithLabelValues("pod").Inc()
	s.metrics.redeemTime.Observe(time.Since(start).Seconds())
	s.log.Info("issued", append([]any{"audit", true, "kind", "pod", "egg", claims.ID, "workload", claims.Workload,
		"peer", claims.Peer, "spiffeID", resp.SPIFFEID, "notAfter", resp.NotAfter, "remote", r.RemoteAddr}, podAttrs(pod)...)...)
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) refuse(w http.ResponseWriter, r *http.Request, ref refusal, c *egg.Claims) {
	s.metrics.redemptions.WithLabelValues(ref.result).Inc()
	attrs := []any{"audit", true, "result", ref.result, "err", ref.err.Error(), "remote", r.RemoteAddr}
	if c != nil {
		attrs = append(attrs, "egg", c.ID, "workload", c.Workload, "peer", c.Peer)
	}
	if ref.code == http.StatusTooManyRequests {
		// A flood must not become a flood of log lines: the metric counts them.
		s.metrics.rateLimited.WithLabelValues(strings.TrimPrefix(ref.result, "rate_limited_")).Inc()
		s.log.Debug("redemption rate-limited", attrs...)
		w.Header().Set("Retry-After", retryAfter(ref.wait))
	} else {
		s.log.Warn("redemption refused", attrs...)
	}
	writeError(w, ref.code, "redeem: "+ref.err.Error())
}

func (s *Server) issueForEgg(ctx context.Context, req *rotapi.RedeemRequest) (*rotapi.RedeemResponse, *egg.Claims, *refusal) {
	v := s.v.Load()
	now := s.cfg.Now()
	o, err := egg.Parse(req.Egg)
	if err != nil {
		return nil, nil, &refusal{http.StatusBadRequest, "malformed", err, 0}
	}
	c, err := egg.Open(v.keyring, v.td.Name(), o, now)
	switch {
	case err == nil:
	case errors.Is(err, egg.ErrWrongTrustDomain):
		return nil, nil, &refusal{http.StatusForbidden, "wrong_trust_domain", err, 0}
	case errors.Is(err, egg.ErrExpired):
		return nil, nil, &refusal{http.StatusForbidden, "expired", err, 0}
	case errors.Is(err, egg.ErrUnknownKey), errors.Is(err, egg.ErrInauthentic):
		return nil, nil, &refusal{http.StatusForbidden, "inauthentic", err, 0}
	default:
		return nil, nil, &refusal{http.StatusBadRequest, "malformed", err, 0}
	}
	if !v.eggs[c.ID] {
		// Minted by another ROT replica a moment ago, or its record is lost: look once more.
		s.reloadForMissingEgg(ctx)
		if v = s.v.Load(); !v.eggs[c.ID] {
			return nil, c, &refusal{http.StatusForbidden, "no_record", fmt.Errorf("egg %s has no record at this ROT "+
				"(its record is lost, or it was minted by another ROT with the same keys); it is refused as if revoked: "+
				"restore the egg records from backup, or mint a new Egg", c.ID), 0}
		}
	}
	if v.revoked[c.ID] {
		return nil, c, &refusal{http.StatusForbidden, "revoked", fmt.Errorf("egg %s is revoked", c.ID), 0}
	}
	wv, ok := v.workloads[c.Workload]
	if !ok {
		return nil, c, &refusal{http.StatusNotFound, "unknown_workload", fmt.Errorf("workload %q does not exist", c.Workload), 0}
	}
	if c.Incarnation != "" && c.Incarnation != wv.rec.Incarnation {
		return nil, c, &refusal{http.StatusForbidden, "workload_recreated", fmt.Errorf("egg %s was minted for an earlier workload %q, "+
			"deleted since; the workload of that name now is another one: mint a new Egg for it", c.ID, c.Workload), 0}
	}
	if !wv.peers[c.Peer] {
		return nil, c, &refusal{http.StatusForbidden, "peer_denied", fmt.Errorf("peer %q is not a peer of workload %q", c.Peer, c.Workload), 0}
	}
	if ref := s.checkPod(ctx, v, wv, req.Token); ref != nil {
		return nil, c, ref
	}
	if ref := s.checkAttestation(v, wv, c, req.Evidence); ref != nil {
		return nil, c, ref
	}
	// The Egg's bucket is charged only now, once the second factors passed: someone holding a
	// leaked Egg of a bound or attested workload, but not a pod's token or a TPM, must not spend
	// the real pods' budget (the refusals above are cheap, and the per-client limit covers them).
	if wait, ok := s.redeemSt.perEgg.take(c.ID, now); !ok {
		return nil, c, &refusal{http.StatusTooManyRequests, "rate_limited_egg",
			fmt.Errorf("egg %s is redeemed too often: retry in %ss", c.ID, retryAfter(wait)), wait}
	}
	csr, err := ca.ParseCSR([]byte(req.CSR))
	if err != nil {
		return nil, c, &refusal{http.StatusBadRequest, "bad_csr", err, 0}
	}
	id := spiffeID(v.td, c.Workload, c.Peer)
	leaf := ca.Leaf{
		SPIFFEID:   id,
		CommonName: c.Peer,
		DNSNames:   append([]string{c.Peer}, grantHostnames(req.Hostnames, c.Hostnames, wv.routeHosts, c.Peer)...),
		TTL:        wv.certTTL,
		NotAfter:   c.NotAfter, // never past the Egg
	}
	signer, chainPEM := wv.signing(now)
	iss, err := signer.Issue(leaf, csr.PublicKey, s.opts)
	if err != nil {
		return nil, c, &refusal{http.StatusInternalServerError, "internal", err, 0}
	}
	resp := &rotapi.RedeemResponse{
		Certificate:      string(iss.PEM(nil)) + chainPEM,
		TrustBundle:      wv.bundlePEM,
		FederatedBundles: federatedFor(v, wv, req.FederatesWith),
		DataKeys:         wv.dataKeys,
		NotAfter:         iss.NotAfter.UTC(),
		SPIFFEID:         id.String(),
	}
	return resp, c, nil
}

// reloadForMissingEgg reloads the state for an Egg without a record: concurrent callers share
// one reload, and none runs within missReloadGap of the last.
func (s *Server) reloadForMissingEgg(ctx context.Context) {
	_, _, _ = s.redeemSt.reloads.Do("reload", func() (any, error) {
		now := s.cfg.Now()
		if d := now.Sub(s.redeemSt.lastReload); d >= 0 && d < missReloadGap {
			return nil, nil
		}
		s.redeemSt.lastReload = now
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := s.Reload(ctx); err != nil {
			s.log.Error("reloading state for an Egg without a record failed; serving the previous state", "err", err)
		}
		return nil, nil
	})
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
