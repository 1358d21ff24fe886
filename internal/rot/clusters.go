package rot

import (
	"cmp"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/seal-dev/seal/internal/podtoken"
	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/store"
)

// Pod binding (docs/binding.md): the clusters whose ServiceAccount tokens the ROT verifies,
// the bindings of workloads to them, and the token check of a redemption.

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
	} {
		if errors.Is(err, r.err) {
			return r.result
		}
	}
	return "token_malformed"
}

// CheckBindings validates bindings: names of a cluster, a namespace and a service account or *.
func CheckBindings(bs []store.Binding) error {
	for i, b := range bs {
		if err := CheckName("binding cluster", b.Cluster); err != nil {
			return err
		}
		if err := CheckName("binding namespace", b.Namespace); err != nil {
			return err
		}
		if b.ServiceAccount != "*" {
			if err := checkHostname(b.ServiceAccount); err != nil {
				return fmt.Errorf("rot: binding service account %q must be a Kubernetes name or *", b.ServiceAccount)
			}
		}
		if slices.Contains(bs[:i], b) {
			return fmt.Errorf("rot: binding %s is listed twice", b)
		}
	}
	return nil
}

// checkClustersKnown refuses bindings to a cluster the ROT does not know (s.mu held).
func (s *Server) checkClustersKnown(bs []store.Binding) error {
	for _, b := range bs {
		if _, ok := s.st.Clusters[b.Cluster]; !ok {
			return fmt.Errorf("rot: cluster %q is not known; fix: sealctl cluster add %s --issuer URL --jwks FILE first", b.Cluster, b.Cluster)
		}
	}
	return nil
}

func recordBindings(bs []rotapi.Binding) []store.Binding {
	var out []store.Binding
	for _, b := range bs {
		out = append(out, store.Binding(b))
	}
	return out
}

func apiBindings(bs []store.Binding) []rotapi.Binding {
	var out []rotapi.Binding
	for _, b := range bs {
		out = append(out, rotapi.Binding(b))
	}
	return out
}

func (s *Server) apiCluster(c *store.Cluster) rotapi.Cluster {
	out := rotapi.Cluster{Name: c.Name, Issuer: c.Issuer, Audience: cmp.Or(c.Audience, store.DefaultAudience), JWKS: c.JWKS,
		JWKSURL: c.JWKSURL, JWKSCA: c.JWKSCA, LastRefreshed: c.LastRefreshed, LastError: c.LastError, Created: c.Created}
	if ks, err := podtoken.ParseJWKS([]byte(c.JWKS)); err == nil {
		out.Keys = len(ks.Keys)
	} else if out.LastError == "" && c.JWKSURL == "" {
		out.LastError = err.Error()
	}
	for name, w := range s.st.Workloads {
		if slices.ContainsFunc(w.Spec.Bindings, func(b store.Binding) bool { return b.Cluster == c.Name }) {
			out.BoundBy = append(out.BoundBy, name)
		}
	}
	slices.Sort(out.BoundBy)
	return out
}

func (s *Server) listClusters(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]rotapi.Cluster, 0, len(s.st.Clusters))
	for _, c := range s.st.Clusters {
		out = append(out, s.apiCluster(c))
	}
	slices.SortFunc(out, func(a, b rotapi.Cluster) int { return cmp.Compare(a.Name, b.Name) })
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getCluster(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.st.Clusters[r.PathValue("name")]
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("rot: cluster %q does not exist", r.PathValue("name")))
		return
	}
	writeJSON(w, http.StatusOK, s.apiCluster(c))
}

// checkCluster validates a cluster from the admin API.
func checkCluster(c *store.Cluster) error {
	if err := CheckName("cluster name", c.Name); err != nil {
		return err
	}
	if c.Issuer == "" || len(c.Issuer) > maxIssuerBytes {
		return fmt.Errorf("rot: issuer must be 1-%d bytes: the cluster's --service-account-issuer (kubectl get --raw /.well-known/openid-configuration | jq -r .issuer)", maxIssuerBytes)
	}
	if (c.JWKS == "") == (c.JWKSURL == "") {
		return errors.New("rot: give exactly one of jwks (the document of kubectl get --raw /openid/v1/jwks) or jwksURL")
	}
	if c.JWKSURL == "" {
		if c.JWKSCA != "" {
			return errors.New("rot: jwksCA is only for jwksURL")
		}
		if _, err := podtoken.ParseJWKS([]byte(c.JWKS)); err != nil {
			return fmt.Errorf("rot: jwks: %w", err)
		}
		return nil
	}
	if err := podtoken.CheckURL(c.JWKSURL); err != nil {
		return fmt.Errorf("rot: %w", err)
	}
	if c.JWKSCA != "" && !x509.NewCertPool().AppendCertsFromPEM([]byte(c.JWKSCA)) {
		return errors.New("rot: jwksCA holds no PEM certificate")
	}
	return nil
}

// putCluster is PUT /v1/admin/clusters/{name}: add or replace a cluster. A JWKS URL is
// fetched at once; when that fails the cluster is still saved, with the error to see in
// sealctl cluster get, and fetched again with backoff.
func (s *Server) putCluster(w http.ResponseWriter, r *http.Request) {
	var in rotapi.Cluster
	if code, err := decodeBody(w, r, &in); err != nil {
		writeError(w, code, err.Error())
		return
	}
	if in.Name == "" {
		in.Name = r.PathValue("name")
	}
	if in.JWKS != "" && in.JWKSURL != "" {
		writeError(w, http.StatusBadRequest, "rot: give exactly one of jwks (the document of kubectl get --raw /openid/v1/jwks) or jwksURL, not both")
		return
	}
	if in.Name != r.PathValue("name") {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("rot: body names cluster %q, the path %q", in.Name, r.PathValue("name")))
		return
	}
	c := &store.Cluster{Name: in.Name, Issuer: in.Issuer, Audience: cmp.Or(in.Audience, store.DefaultAudience), JWKSURL: in.JWKSURL, JWKSCA: in.JWKSCA}
	if in.JWKSURL == "" {
		c.JWKS = in.JWKS
	}
	if err := checkCluster(c); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	var fetched []byte
	var ferr error
	if c.JWKSURL != "" {
		fetched, ferr = podtoken.Fetch(r.Context(), c.JWKSURL, []byte(c.JWKSCA))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, existed := s.st.Clusters[c.Name]
	c.Created = s.cfg.Now().UTC()
	if existed {
		c.Created = old.Created
	}
	if c.JWKSURL != "" {
		s.recordFetchLocked(c, old, fetched, ferr)
	}
	if err := s.cfg.Store.PutCluster(r.Context(), c); err != nil {
		writeError(w, storeStatus(err), "rot: saving cluster: "+err.Error())
		return
	}
	s.st.Clusters[c.Name] = c
	s.setVerifierLocked()
	s.audit(r, "cluster-put", "cluster", c.Name, "issuer", c.Issuer, "audience", c.Audience, "jwksURL", c.JWKSURL, "replaced", existed)
	code := http.StatusCreated
	if existed {
		code = http.StatusOK
	}
	writeJSON(w, code, s.apiCluster(c))
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

func (s *Server) deleteCluster(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.st.Clusters[name]
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("rot: cluster %q does not exist", name))
		return
	}
	if bound := s.apiCluster(c).BoundBy; len(bound) > 0 {
		writeError(w, http.StatusConflict, fmt.Sprintf("rot: cluster %q is bound by workload(s) %v: their pods could no longer redeem; fix: sealctl workload unbind WORKLOAD %s/NAMESPACE/SERVICEACCOUNT first", name, bound, name))
		return
	}
	if err := s.cfg.Store.DeleteCluster(r.Context(), name); err != nil && !errors.Is(err, store.ErrNotFound) {
		writeError(w, storeStatus(err), err.Error())
		return
	}
	delete(s.st.Clusters, name)
	s.setVerifierLocked()
	s.audit(r, "cluster-delete", "cluster", name)
	writeJSON(w, http.StatusOK, s.apiCluster(c))
}

// bindWorkload is POST /v1/admin/workloads/{name}/bindings: add and remove bindings.
func (s *Server) bindWorkload(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var req rotapi.BindRequest
	if code, err := decodeBody(w, r, &req); err != nil {
		writeError(w, code, err.Error())
		return
	}
	add, remove := recordBindings(req.Bind), recordBindings(req.Unbind)
	if err := CheckBindings(append(slices.Clone(add), remove...)); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	wv, ok := s.v.Load().workloads[name]
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("rot: workload %q does not exist", name))
		return
	}
	if err := s.checkClustersKnown(add); err != nil {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	rec := *wv.rec
	bs := slices.Clone(rec.Spec.Bindings)
	for _, b := range remove {
		i := slices.Index(bs, b)
		if i < 0 {
			writeError(w, http.StatusNotFound, fmt.Sprintf("rot: workload %q has no binding %s", name, b))
			return
		}
		bs = slices.Delete(bs, i, i+1)
	}
	for _, b := range add {
		if !slices.Contains(bs, b) {
			bs = append(bs, b)
		}
	}
	rec.Spec.Bindings = bs
	if err := s.putWorkloadLocked(r.Context(), &rec); err != nil {
		writeError(w, storeStatus(err), err.Error())
		return
	}
	s.audit(r, "workload-bind", "workload", name, "bind", bindingStrings(add), "unbind", bindingStrings(remove), "bindings", bindingStrings(bs))
	writeJSON(w, http.StatusOK, s.v.Load().workloads[name].spec())
}

func bindingStrings(bs []store.Binding) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b.String()
	}
	return out
}

// clusterRoutes routes the pod binding admin API.
func (s *Server) clusterRoutes(mux *http.ServeMux, admin func(http.HandlerFunc) http.HandlerFunc) {
	mux.Handle(rotapi.PathClusters, methods{http.MethodGet: admin(s.listClusters)})
	mux.Handle(rotapi.PathCluster, methods{http.MethodGet: admin(s.getCluster), http.MethodPut: admin(s.putCluster), http.MethodDelete: admin(s.deleteCluster)})
	mux.Handle(rotapi.PathBindings, methods{http.MethodPost: admin(s.bindWorkload)})
}
