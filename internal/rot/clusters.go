package rot

import (
	"cmp"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/seal-dev/seal/internal/podtoken"
	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/store"
)

// Pod binding (docs/binding.md): the admin API of the clusters whose ServiceAccount tokens
// the ROT verifies and of the bindings of workloads to them (the check itself: binding.go).

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
