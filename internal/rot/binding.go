package rot

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/seal-dev/seal/internal/podtoken"
	"github.com/seal-dev/seal/internal/store"
)

// The token check of a redemption (pod binding, docs/binding.md) and the refresh of the
// clusters' JWKS URLs. The admin API of clusters and bindings is in clusters.go.

const (
	jwksRefresh    = 5 * time.Minute // between successful fetches of a JWKS URL
	maxIssuerBytes = 1024
)

// jwksSchedule is when each URL cluster is fetched next (guarded by Server.mu).
type jwksSchedule struct {
	next     map[string]time.Time
	failures map[string]int
	// gen counts the fetches recorded per cluster: a fetch that started before another was
	// recorded is stale and dropped.
	gen map[string]int
}

// newVerifier builds the token verifier of the state's clusters (bad key sets are left out;
// apiCluster reports them).
func newVerifier(clusters map[string]*store.Cluster) *podtoken.Verifier {
	cs := make([]podtoken.Cluster, 0, len(clusters))
	for _, c := range clusters {
		cs = append(cs, podtoken.Cluster{Name: c.Name, Issuer: c.Issuer, Audience: c.Audience, JWKS: c.JWKS})
	}
	v, _ := podtoken.NewVerifier(cs)
	return v
}

// setVerifierLocked serves a verifier of s.st.Clusters (after a change of the clusters).
func (s *Server) setVerifierLocked() {
	nv := s.v.Load().clone()
	nv.tokens = newVerifier(s.st.Clusters)
	s.v.Store(nv)
}

// podKey is the context key of the slot checkPod fills with the verified pod for the audit line.
type podKey struct{}

// withPodSlot returns ctx with an empty slot for the pod a redemption's token proves.
func withPodSlot(ctx context.Context) (context.Context, *podtoken.Pod) {
	p := &podtoken.Pod{}
	return context.WithValue(ctx, podKey{}, p), p
}

// podAttrs are the audit attributes of a verified pod (none for an unbound workload).
func podAttrs(p *podtoken.Pod) []any {
	if p == nil || p.Cluster == "" {
		return nil
	}
	return []any{"cluster", p.Cluster, "namespace", p.Namespace, "serviceAccount", p.ServiceAccount, "pod", p.Name, "podUID", p.UID}
}

// checkPod verifies a redemption's ServiceAccount token for a workload with bindings: no
// token 401, a token that does not match 403, both naming the failed check.
func (s *Server) checkPod(ctx context.Context, v *view, wv *workloadView, token string) *refusal {
	bs := wv.rec.Spec.Bindings
	if len(bs) == 0 {
		return nil // unbound: the Egg alone redeems, as before
	}
	pod, err := v.tokens.Verify(token, bs, s.cfg.Now())
	if err != nil {
		code := http.StatusForbidden
		if errors.Is(err, podtoken.ErrNoToken) {
			code = http.StatusUnauthorized
		}
		return &refusal{code, tokenResult(err), err, 0}
	}
	if slot, ok := ctx.Value(podKey{}).(*podtoken.Pod); ok {
		*slot = *pod
	}
	return nil
}

// tokenResult is the metric label of a token refusal.
func tokenResult(err error) string {
	for _, r := range []struct {
		err    error
		result string
	}{
		{podtoken.ErrNoToken, "no_token"}, {podtoken.ErrUnknownIssuer, "token_unknown_issuer"},
		{podtoken.ErrClusterNotBound, "token_cluster_not_bound"}, {podtoken.ErrSignature, "token_bad_signature"},
		{podtoken.ErrAudience, "token_wrong_audience"}, {podtoken.ErrExpired, "token_expired"},
		{podtoken.ErrNotYetValid, "token_not_yet_valid"}, {podtoken.ErrNotBound, "not_bound"},
		{podtoken.ErrTooLong, "token_too_long"},
	} {
		if errors.Is(err, r.err) {
			return r.result
		}
	}
	return "token_malformed"
}

// recordFetchLocked puts a fetch's outcome into c: the new keys, or the error with the last
// good keys of old (same URL) kept; and schedules the next fetch.
func (s *Server) recordFetchLocked(c, old *store.Cluster, fetched []byte, ferr error) {
	if s.jwks.next == nil {
		s.jwks.next, s.jwks.failures, s.jwks.gen = map[string]time.Time{}, map[string]int{}, map[string]int{}
	}
	s.jwks.gen[c.Name]++
	now := s.cfg.Now().UTC()
	if old != nil && old.JWKSURL == c.JWKSURL {
		c.JWKS, c.LastRefreshed = old.JWKS, old.LastRefreshed
	}
	if ferr != nil {
		s.jwks.failures[c.Name]++
		s.jwks.next[c.Name] = now.Add(podtoken.Backoff(s.jwks.failures[c.Name], jwksRefresh))
		c.LastError = ferr.Error()
		s.log.Warn("JWKS refresh failed; the last good keys stay in use", "cluster", c.Name, "url", c.JWKSURL, "err", ferr, "failures", s.jwks.failures[c.Name], "haveKeys", c.JWKS != "")
		return
	}
	delete(s.jwks.failures, c.Name)
	s.jwks.next[c.Name] = now.Add(jwksRefresh)
	c.JWKS, c.LastRefreshed, c.LastError = string(fetched), &now, ""
}

// RefreshJWKS fetches the JWKS of every cluster with a jwksURL that is due (every 5 minutes
// after a success, with backoff from 30s after failures), or of all of them when force is
// set. A failure keeps the last good keys and records lastError. Serve runs it every 15s.
func (s *Server) RefreshJWKS(ctx context.Context, force bool) {
	s.mu.Lock()
	var due []store.Cluster
	gens := map[string]int{}
	now := s.cfg.Now()
	for name, c := range s.st.Clusters {
		if c.JWKSURL != "" && (force || !now.Before(s.jwks.next[name])) {
			due = append(due, *c)
			gens[name] = s.jwks.gen[name]
		}
	}
	s.mu.Unlock()
	for _, c := range due {
		fetched, ferr := podtoken.Fetch(ctx, c.JWKSURL, []byte(c.JWKSCA))
		s.mu.Lock()
		cur, ok := s.st.Clusters[c.Name]
		if ok && cur.JWKSURL == c.JWKSURL && s.jwks.gen[c.Name] == gens[c.Name] {
			rec := *cur
			s.recordFetchLocked(&rec, cur, fetched, ferr)
			if err := s.cfg.Store.PutCluster(ctx, &rec); err != nil {
				s.log.Error("saving cluster after a JWKS refresh", "cluster", c.Name, "err", err)
			} else {
				s.st.Clusters[c.Name] = &rec
				if ferr == nil && rec.JWKS != cur.JWKS {
					s.log.Info("refreshed cluster JWKS", "audit", true, "cluster", c.Name, "url", c.JWKSURL)
				}
				s.setVerifierLocked()
			}
		}
		s.mu.Unlock()
	}
}
