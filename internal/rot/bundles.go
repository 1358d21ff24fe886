package rot

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/seal-dev/seal/internal/ca"
	"github.com/seal-dev/seal/internal/rotapi"
)

func (s *Server) listBundles(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	out := make([]rotapi.FederatedBundle, 0, len(s.st.Bundles))
	for _, b := range s.st.Bundles {
		out = append(out, apiBundle(b))
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b rotapi.FederatedBundle) int { return cmp.Compare(a.TrustDomain, b.TrustDomain) })
	writeJSON(w, http.StatusOK, out)
}

// importBundle stores a foreign trust domain's SPIFFE bundle document (sealctl bundle import),
// after parsing it for that trust domain.
func (s *Server) importBundle(w http.ResponseWriter, r *http.Request) {
	var in rotapi.FederatedBundle
	if code, err := decodeBody(w, r, &in); err != nil {
		writeError(w, code, err.Error())
		return
	}
	td, err := spiffeid.TrustDomainFromString(in.TrustDomain)
	if err != nil || td.Name() != in.TrustDomain {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("rot: trustDomain %q is not a trust domain name", in.TrustDomain))
		return
	}
	if td == s.td {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("rot: %q is this ROT's own trust domain", in.TrustDomain))
		return
	}
	rec := recordBundle(&in)
	if err := checkEndpoint(&rec, td); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	sb, err := spiffebundle.Parse(td, []byte(in.Bundle))
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("rot: bundle for %q is not a SPIFFE bundle document: %v", in.TrustDomain, err))
		return
	}
	if len(sb.X509Authorities()) == 0 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("rot: bundle for %q has no X.509 authorities", in.TrustDomain))
		return
	}
	if err := ca.CheckTrustDomain(td, sb.X509Authorities()); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	now := s.cfg.Now().UTC()
	rec.LastRefreshed = &now
	rec.LastError = ""
	if seq, ok := sb.SequenceNumber(); ok {
		rec.SequenceNumber = seq
	}
	pem, err := bundlePEM(&rec)
	if err != nil {
		writeError(w, http.StatusBadRequest, "rot: "+err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.cfg.Store.PutBundle(r.Context(), &rec); err != nil {
		writeError(w, storeStatus(err), "rot: saving bundle: "+err.Error())
		return
	}
	s.st.Bundles[rec.TrustDomain] = &rec
	delete(s.fetchFailures, rec.TrustDomain)
	s.nextFetch[rec.TrustDomain] = now.Add(refreshHint)
	nv := s.v.Load().clone()
	nv.federated[rec.TrustDomain] = pem
	s.v.Store(nv)
	s.audit(r, "bundle-import", "trustDomain", rec.TrustDomain, "authorities", len(sb.X509Authorities()), "sequence", rec.SequenceNumber)
	writeJSON(w, http.StatusOK, apiBundle(&rec))
}
