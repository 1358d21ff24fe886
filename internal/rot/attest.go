package rot

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/seal-dev/seal/internal/attest"
	"github.com/seal-dev/seal/internal/egg"
	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/store"
)

// attestView is the parsed attestation state of a view: the registered keys that parse, the
// policies that parse, and why the others do not (a resource made with kubectl may be wrong;
// it must not take the ROT down, and a Workload naming it is refused with the reason).
type attestView struct {
	keys      *attest.KeySet
	policies  map[string]*attest.Policy
	badPolicy map[string]error
}

func buildAttestView(a store.Attestation) *attestView {
	av := &attestView{policies: map[string]*attest.Policy{}, badPolicy: map[string]error{}}
	good := map[string]string{}
	for name, k := range a.Keys {
		if _, err := attest.ParseAKPub(k.AKPub); err == nil {
			good[name] = k.AKPub
		}
	}
	av.keys, _ = attest.NewKeySet(good) // every key in good parses
	for name, p := range a.Policies {
		pol, err := attest.ParsePolicy(name, p.PCRs)
		if err != nil {
			av.badPolicy[name] = err
			continue
		}
		av.policies[name] = pol
	}
	return av
}

// attestRoutes serves POST /v1/attest/challenge and the admin API of attestation keys and
// policies.
func (s *Server) attestRoutes(mux *http.ServeMux, admin func(http.HandlerFunc) http.HandlerFunc) {
	mux.Handle(rotapi.PathAttestChallenge, methods{http.MethodPost: s.attestChallenge})
	mux.Handle(rotapi.PathAttestationKeys, methods{http.MethodGet: admin(s.listAttestationKeys), http.MethodPost: admin(s.addAttestationKey)})
	mux.Handle(rotapi.PathAttestationKey, methods{http.MethodDelete: admin(s.deleteAttestationKey)})
	mux.Handle(rotapi.PathAttestationPolicies, methods{http.MethodGet: admin(s.listAttestationPolicies), http.MethodPost: admin(s.setAttestationPolicy)})
	mux.Handle(rotapi.PathAttestationPolicy, methods{http.MethodDelete: admin(s.deleteAttestationPolicy)})
}

// attestChallenge is POST /v1/attest/challenge: an authentic, unexpired Egg gets a nonce for
// one redemption, and the PCRs its Workload's policy checks.
func (s *Server) attestChallenge(w http.ResponseWriter, r *http.Request) {
	now := s.cfg.Now()
	if wait, ok := s.redeemSt.perClient.take(clientKey(r), now); !ok {
		w.Header().Set("Retry-After", retryAfter(wait))
		writeError(w, http.StatusTooManyRequests, fmt.Sprintf("attest: too many requests from %s: retry in %ss", clientKey(r), retryAfter(wait)))
		return
	}
	var req rotapi.ChallengeRequest
	if code, err := decodeBody(w, r, &req); err != nil {
		writeError(w, code, err.Error())
		return
	}
	v := s.v.Load()
	o, err := egg.Parse(req.Egg)
	if err != nil {
		writeError(w, http.StatusBadRequest, "attest: "+err.Error())
		return
	}
	c, err := egg.Open(v.keyring, v.td.Name(), o, now)
	if err != nil {
		writeError(w, http.StatusForbidden, "attest: "+err.Error())
		return
	}
	if v.revoked[c.ID] {
		writeError(w, http.StatusForbidden, fmt.Sprintf("attest: egg %s is revoked", c.ID))
		return
	}
	nonce, exp, err := s.attestCheck.Nonces.Issue(c.ID)
	if errors.Is(err, attest.ErrBusy) {
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusTooManyRequests, err.Error())
		return
	} else if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	resp := rotapi.ChallengeResponse{Nonce: base64.StdEncoding.EncodeToString(nonce), ExpiresAt: exp.UTC()}
	if wv, ok := v.workloads[c.Workload]; ok {
		if p := v.attest.policies[wv.rec.Spec.Attest]; p != nil {
			resp.PCRs = p.Indices()
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

// checkAttestation is the redemption's attestation gate: nil when the Workload has no policy,
// else a 403 naming the failed check unless the evidence verifies.
func (s *Server) checkAttestation(v *view, wv *workloadView, c *egg.Claims, ev *rotapi.Evidence) *refusal {
	name := wv.rec.Spec.Attest
	if name == "" {
		return nil
	}
	p, ok := v.attest.policies[name]
	if !ok {
		why := "does not exist"
		if err := v.attest.badPolicy[name]; err != nil {
			why = "is invalid: " + err.Error()
		}
		return &refusal{http.StatusForbidden, "attestation_policy", fmt.Errorf("attestation policy %q of workload %q %s; "+
			"fix: sealctl attestation policy set %s --pcr INDEX=HEX", name, c.Workload, why, name), 0}
	}
	err := s.attestCheck.Check(c.ID, ev, v.attest.keys, p)
	if err == nil {
		return nil
	}
	return &refusal{http.StatusForbidden, attestResult(err), fmt.Errorf("attestation refused: %w; fix: %s", err, attestFix(err)), 0}
}

// attestResult is the metric label of a failed attestation check.
func attestResult(err error) string {
	for _, e := range []struct {
		err   error
		label string
	}{
		{attest.ErrNoEvidence, "attestation_missing"}, {attest.ErrUnknownAK, "attestation_unknown_ak"},
		{attest.ErrBadSignature, "attestation_bad_signature"}, {attest.ErrNonceReused, "attestation_nonce_reused"},
		{attest.ErrNonceExpired, "attestation_nonce_expired"}, {attest.ErrNonceOtherEgg, "attestation_nonce_other_egg"},
		{attest.ErrNonceUnknown, "attestation_nonce_unknown"}, {attest.ErrNonceMismatch, "attestation_nonce_mismatch"},
		{attest.ErrPCRDigest, "attestation_pcr_digest"}, {attest.ErrPCRMismatch, "attestation_pcr_mismatch"},
		{attest.ErrUnsupported, "attestation_unsupported"},
	} {
		if errors.Is(err, e.err) {
			return e.label
		}
	}
	return "attestation_malformed"
}

func attestFix(err error) string {
	switch {
	case errors.Is(err, attest.ErrNoEvidence):
		return "add the annotation seal.dev/attest: tpm2 to the pod (seal-init --attest tpm2)"
	case errors.Is(err, attest.ErrUnknownAK):
		return "register the node's key: seal-init attest enroll on the node, then sealctl attestation key add NAME --ak-pub FILE"
	case errors.Is(err, attest.ErrPCRMismatch):
		return "the machine does not run what the policy allows; if the change is intended, update the reference values (sealctl attestation policy set)"
	case errors.Is(err, attest.ErrNonceReused), errors.Is(err, attest.ErrNonceExpired), errors.Is(err, attest.ErrNonceUnknown),
		errors.Is(err, attest.ErrNonceOtherEgg):
		return "get a fresh challenge (POST /v1/attest/challenge) for this Egg right before each redemption"
	}
	return "send the TPM's own quote and signature unchanged (seal-init --attest tpm2)"
}

func (s *Server) listAttestationKeys(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	out := make([]rotapi.AttestationKey, 0, len(s.st.Attestation.Keys))
	for _, k := range s.st.Attestation.Keys {
		ak := rotapi.AttestationKey{Name: k.Name, AKPub: k.AKPub, Created: k.Created}
		if pub, err := attest.ParseAKPub(k.AKPub); err == nil {
			ak.Fingerprint = attest.Fingerprint(pub)
		}
		out = append(out, ak)
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b rotapi.AttestationKey) int { return cmp.Compare(a.Name, b.Name) })
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) addAttestationKey(w http.ResponseWriter, r *http.Request) {
	var req rotapi.AttestationKey
	if code, err := decodeBody(w, r, &req); err != nil {
		writeError(w, code, err.Error())
		return
	}
	if err := CheckName("attestation key name", req.Name); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	pub, err := attest.ParseAKPub(req.AKPub)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("rot: attestation key %q: %v", req.Name, err))
		return
	}
	k := &store.AttestationKey{Name: req.Name, AKPub: req.AKPub, Created: s.cfg.Now().UTC()}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.cfg.Store.PutAttestationKey(r.Context(), k); err != nil {
		writeError(w, storeStatus(err), err.Error())
		return
	}
	s.st.Attestation.Keys[k.Name] = k
	s.refreshAttestLocked()
	fp := attest.Fingerprint(pub)
	s.audit(r, "attestation-key-add", "name", k.Name, "fingerprint", fp)
	writeJSON(w, http.StatusCreated, rotapi.AttestationKey{Name: k.Name, AKPub: k.AKPub, Fingerprint: fp, Created: k.Created})
}

func (s *Server) deleteAttestationKey(w http.ResponseWriter, r *http.Request) {
	s.deleteAttestation(w, r, "attestation-key-delete", s.cfg.Store.DeleteAttestationKey, func(n string) { delete(s.st.Attestation.Keys, n) })
}

func (s *Server) deleteAttestationPolicy(w http.ResponseWriter, r *http.Request) {
	s.deleteAttestation(w, r, "attestation-policy-delete", s.cfg.Store.DeleteAttestationPolicy, func(n string) { delete(s.st.Attestation.Policies, n) })
}

func (s *Server) deleteAttestation(w http.ResponseWriter, r *http.Request, action string, del func(context.Context, string) error, forget func(string)) {
	name := r.PathValue("name")
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := del(r.Context(), name); errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "rot: "+strings.TrimPrefix(err.Error(), "store: "))
		return
	} else if err != nil {
		writeError(w, storeStatus(err), err.Error())
		return
	}
	forget(name)
	s.refreshAttestLocked()
	s.audit(r, action, "name", name)
	writeJSON(w, http.StatusOK, map[string]string{"deleted": name})
}

func (s *Server) listAttestationPolicies(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	out := make([]rotapi.AttestationPolicy, 0, len(s.st.Attestation.Policies))
	for _, p := range s.st.Attestation.Policies {
		out = append(out, rotapi.AttestationPolicy{Name: p.Name, PCRs: p.PCRs, Created: p.Created})
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b rotapi.AttestationPolicy) int { return cmp.Compare(a.Name, b.Name) })
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) setAttestationPolicy(w http.ResponseWriter, r *http.Request) {
	var req rotapi.AttestationPolicy
	if code, err := decodeBody(w, r, &req); err != nil {
		writeError(w, code, err.Error())
		return
	}
	if err := CheckName("attestation policy name", req.Name); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	pcrs := map[string]string{}
	for k, v := range req.PCRs {
		pcrs[k] = strings.ToLower(v)
	}
	if _, err := attest.ParsePolicy(req.Name, pcrs); err != nil {
		writeError(w, http.StatusBadRequest, "rot: "+strings.TrimPrefix(err.Error(), "attest: "))
		return
	}
	p := &store.AttestationPolicy{Name: req.Name, PCRs: pcrs, Created: s.cfg.Now().UTC()}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.st.Attestation.Policies[req.Name]; old != nil {
		p.Created = old.Created
	}
	if err := s.cfg.Store.PutAttestationPolicy(r.Context(), p); err != nil {
		writeError(w, storeStatus(err), err.Error())
		return
	}
	s.st.Attestation.Policies[p.Name] = p
	s.refreshAttestLocked()
	s.audit(r, "attestation-policy-set", "name", p.Name, "pcrs", len(p.PCRs))
	writeJSON(w, http.StatusOK, rotapi.AttestationPolicy{Name: p.Name, PCRs: p.PCRs, Created: p.Created})
}

// refreshAttestLocked publishes a view with the attestation state of s.st (s.mu held).
func (s *Server) refreshAttestLocked() {
	nv := s.v.Load().clone()
	nv.attest = buildAttestView(s.st.Attestation)
	s.v.Store(nv)
}

// checkAttestRef refuses a workload spec naming a policy this ROT does not hold.
func checkAttestRef(v *view, spec *store.WorkloadSpec) error {
	if spec.Attest == "" {
		return nil
	}
	if _, ok := v.attest.policies[spec.Attest]; !ok {
		return fmt.Errorf("rot: attestation policy %q does not exist; fix: sealctl attestation policy set %s --pcr INDEX=HEX first", spec.Attest, spec.Attest)
	}
	return nil
}

// AttestNonces is the number of attestation nonces held (for tests and metrics).
func (s *Server) AttestNonces() int { return s.attestCheck.Nonces.Len() }
