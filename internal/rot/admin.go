package rot

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"filippo.io/age"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/seal-dev/seal/internal/ca"
	"github.com/seal-dev/seal/internal/custody"
	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/store"
)

// maxCertTTL bounds the lifetime of pod and external-client certificates.
const maxCertTTL = 90 * 24 * time.Hour

func (s *Server) audit(r *http.Request, action string, attrs ...any) {
	s.metrics.admin.WithLabelValues(action).Inc()
	s.log.Info("admin "+action, append([]any{"audit", true, "action", action, "admin", auditSubject(r)}, attrs...)...)
}

func (s *Server) listWorkloads(w http.ResponseWriter, r *http.Request) {
	v := s.v.Load()
	out := make([]rotapi.Workload, 0, len(v.workloads))
	for _, wv := range v.workloads {
		out = append(out, wv.spec())
	}
	slices.SortFunc(out, func(a, b rotapi.Workload) int { return cmp.Compare(a.Name, b.Name) })
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getWorkload(w http.ResponseWriter, r *http.Request) {
	wv, ok := s.lookupWorkload(r.Context(), r.PathValue("name"))
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("rot: workload %q does not exist", r.PathValue("name")))
		return
	}
	writeJSON(w, http.StatusOK, wv.spec())
}

// CheckWorkloadSpec validates the user-settable fields of a workload for the ROT of trust
// domain own: the admin API and the --kube store (Workloads made with kubectl) both use it.
func CheckWorkloadSpec(spec *store.WorkloadSpec, own spiffeid.TrustDomain) error {
	if err := CheckName("workload name", spec.Name); err != nil {
		return err
	}
	for _, p := range spec.Peers {
		if err := CheckName("peer name", p); err != nil {
			return err
		}
	}
	if spec.CertTTL != "" {
		d, err := time.ParseDuration(spec.CertTTL)
		if err != nil || d < time.Minute || d > maxCertTTL {
			return fmt.Errorf("rot: certTTL %q must be a Go duration between 1m and %s", spec.CertTTL, maxCertTTL)
		}
	}
	for _, td := range spec.FederatesWith {
		t, err := spiffeid.TrustDomainFromString(td)
		if err != nil || t.Name() != td {
			return fmt.Errorf("rot: federatesWith %q is not a trust domain name", td)
		}
		if t == own {
			return fmt.Errorf("rot: federatesWith %q is this ROT's own trust domain", td)
		}
	}
	for _, h := range spec.RouteHosts {
		if err := checkHostname(h); err != nil {
			return err
		}
	}
	if spec.Attest != "" {
		if err := CheckName("attestation policy name", spec.Attest); err != nil {
			return err
		}
	}
	return CheckBindings(spec.Bindings)
}

func (s *Server) createWorkload(w http.ResponseWriter, r *http.Request) {
	var spec rotapi.Workload
	if code, err := decodeBody(w, r, &spec); err != nil {
		writeError(w, code, err.Error())
		return
	}
	recSpec := RecordSpec(&spec)
	if err := CheckWorkloadSpec(&recSpec, s.td); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.v.Load()
	if _, ok := v.workloads[spec.Name]; ok {
		writeError(w, http.StatusConflict, fmt.Sprintf("rot: workload %q already exists", spec.Name))
		return
	}
	if err := s.checkClustersKnown(recSpec.Bindings); err != nil {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	if err := checkAttestRef(v, &recSpec); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	rec, err := NewWorkloadRecord(v.root, s.td.Name(), recSpec, s.cfg.WorkloadCATTL, s.opts)
	if err != nil {
		writeError(w, storeStatus(err), err.Error())
		return
	}
	if err := s.putWorkloadLocked(r.Context(), rec); err != nil {
		writeError(w, storeStatus(err), err.Error())
		return
	}
	wv := s.v.Load().workloads[spec.Name]
	s.audit(r, "workload-create", "workload", spec.Name, "caFingerprint", wv.current.Fingerprint())
	writeJSON(w, http.StatusCreated, wv.spec())
}

// deleteWorkload removes a workload and revokes every Egg minted for it, so re-creating a
// workload of the same name does not bring old Eggs back.
func (s *Server) deleteWorkload(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.knowWorkloadLocked(r.Context(), name)
	wv, ok := s.v.Load().workloads[name]
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("rot: workload %q does not exist", name))
		return
	}
	spec := wv.spec()
	var revoked []string
	for id, e := range s.st.Eggs {
		if e.Workload == name && !e.Revoked {
			if err := s.revokeLocked(r, id); err != nil {
				writeError(w, storeStatus(err), err.Error())
				return
			}
			revoked = append(revoked, id)
		}
	}
	if err := s.deleteSecretsLocked(r.Context(), name); err != nil {
		writeError(w, storeStatus(err), err.Error())
		return
	}
	if err := s.cfg.Store.DeleteWorkload(r.Context(), name); err != nil && !errors.Is(err, store.ErrNotFound) {
		writeError(w, storeStatus(err), err.Error())
		return
	}
	delete(s.st.Workloads, name)
	nv := s.v.Load().clone()
	delete(nv.workloads, name)
	s.v.Store(nv)
	s.metrics.workloads.Set(float64(len(s.st.Workloads)))
	s.audit(r, "workload-delete", "workload", name, "revokedEggs", len(revoked))
	writeJSON(w, http.StatusOK, spec)
}

// externalCert issues a certificate for an external client (sealctl cert): a peer identity of
// the workload for a key the client generated.
func (s *Server) externalCert(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var req rotapi.CertRequest
	if code, err := decodeBody(w, r, &req); err != nil {
		writeError(w, code, err.Error())
		return
	}
	s.lookupWorkload(r.Context(), name)
	v := s.v.Load()
	wv, peer, ok := v.workloadPeer(w, name, req.Peer)
	if !ok {
		return
	}
	ttl := wv.certTTL
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil || d < time.Minute || d > maxCertTTL {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("rot: ttl %q must be a Go duration between 1m and %s", req.TTL, maxCertTTL))
			return
		}
		ttl = d
	}
	csr, err := ca.ParseCSR([]byte(req.CSR))
	if err != nil {
		writeError(w, http.StatusBadRequest, "rot: "+err.Error())
		return
	}
	id := spiffeID(v.td, name, peer)
	signer, _ := wv.signing(s.cfg.Now())
	iss, err := signer.Issue(ca.Leaf{SPIFFEID: id, CommonName: peer, DNSNames: []string{peer}, TTL: ttl}, csr.PublicKey, s.opts)
	if err != nil {
		writeError(w, storeStatus(err), err.Error())
		return
	}
	s.metrics.issuances.WithLabelValues("external").Inc()
	s.audit(r, "external-cert", "workload", name, "peer", peer, "spiffeID", id.String(), "notAfter", iss.NotAfter)
	writeJSON(w, http.StatusOK, rotapi.CertResponse{
		Certificate: string(iss.PEM(signer)),
		TrustBundle: wv.bundlePEM,
		NotAfter:    iss.NotAfter.UTC(),
		SPIFFEID:    id.String(),
	})
}

func (s *Server) currentKey(w http.ResponseWriter, r *http.Request) {
	wv, ok := s.lookupWorkload(r.Context(), r.PathValue("name"))
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("rot: workload %q does not exist", r.PathValue("name")))
		return
	}
	resp, err := keysResponse(wv.rec, s.opts)
	if err != nil {
		writeError(w, storeStatus(err), err.Error())
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func keysResponse(rec *store.Workload, o ca.Options) (*rotapi.KeysResponse, error) {
	cur := slices.MaxFunc(rec.DataKeys, func(a, b store.DataKey) int { return a.Index - b.Index })
	plain, err := o.Unseal(custody.DataKeyName(rec.Spec.Name, cur.Index), cur.Identity)
	if err != nil {
		return nil, fmt.Errorf("rot: stored data key %d of %q: %w", cur.Index, rec.Spec.Name, err)
	}
	id, err := age.ParseX25519Identity(string(plain))
	if err != nil {
		return nil, fmt.Errorf("rot: stored data key %d of %q: %w", cur.Index, rec.Spec.Name, err)
	}
	return &rotapi.KeysResponse{Index: cur.Index, Recipient: id.Recipient().String()}, nil
}

// rotateKey adds a new current data key; old ones stay so pods can still decrypt old data.
func (s *Server) rotateKey(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.knowWorkloadLocked(r.Context(), name)
	wv, ok := s.v.Load().workloads[name]
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("rot: workload %q does not exist", name))
		return
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "rot: generating data key: "+err.Error())
		return
	}
	rec := *wv.rec
	next := slices.MaxFunc(rec.DataKeys, func(a, b store.DataKey) int { return a.Index - b.Index }).Index + 1
	sealed, err := s.opts.Seal(custody.DataKeyName(name, next), []byte(id.String()))
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	rec.DataKeys = append(slices.Clone(rec.DataKeys), store.DataKey{Index: next, Identity: sealed, Created: s.cfg.Now().UTC()})
	if err := s.putWorkloadLocked(r.Context(), &rec); err != nil {
		writeError(w, storeStatus(err), err.Error())
		return
	}
	_ = s.reencryptSecretsLocked(r.Context(), &rec) // logs; the old key still decrypts
	s.audit(r, "keys-rotate", "workload", name, "index", next)
	writeJSON(w, http.StatusOK, rotapi.KeysResponse{Index: next, Recipient: id.Recipient().String()})
}
