package rot

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/seal-dev/seal/internal/ca"
	"github.com/seal-dev/seal/internal/rotapi"
)

// errRetire: a retirement the ROT refuses (the message says the fix).
var errRetire = errors.New("rot: cannot retire")

// minFingerprintPrefix is the shortest fingerprint prefix ca retire accepts.
const minFingerprintPrefix = 12

// rotationRoutes registers the admin API of CA and egg-key rotation and CA retirement.
func (s *Server) rotationRoutes(mux *http.ServeMux, admin func(http.HandlerFunc) http.HandlerFunc) {
	mux.Handle(rotapi.PathCAs, methods{http.MethodGet: admin(s.listCAs)})
	mux.Handle(rotapi.PathCA, methods{http.MethodDelete: admin(s.retireCA)})
	mux.Handle(rotapi.PathRotateROTCA, methods{http.MethodPost: admin(s.rotateROTCA)})
	mux.Handle(rotapi.PathRotateEggKey, methods{http.MethodPost: admin(s.rotateEggKey)})
	mux.Handle(rotapi.PathRotateWorkloadCA, methods{http.MethodPost: admin(s.rotateWorkloadCA)})
}

func caInfo(kind, workload string, c *ca.CA, current bool, roots []*ca.CA) rotapi.CA {
	out := rotapi.CA{Kind: kind, Workload: workload, Fingerprint: c.Fingerprint(), Current: current,
		NotBefore: c.Cert.NotBefore.UTC(), NotAfter: c.Cert.NotAfter.UTC()}
	if kind == rotapi.CAKindWorkload {
		if p := signer(c, roots); p != nil {
			out.Issuer = p.Fingerprint()
		}
	}
	return out
}

// signer is the CA of parents that signed c, or nil.
func signer(c *ca.CA, parents []*ca.CA) *ca.CA {
	for _, p := range parents {
		if c.Cert.CheckSignatureFrom(p.Cert) == nil {
			return p
		}
	}
	return nil
}

// cas lists every CA of v: ROT CAs first, then Workload CAs by workload, oldest first.
func (v *view) cas(now time.Time) []rotapi.CA {
	var out []rotapi.CA
	for _, c := range v.roots {
		out = append(out, caInfo(rotapi.CAKindROT, "", c, c == v.root, nil))
	}
	names := make([]string, 0, len(v.workloads))
	for n := range v.workloads {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		for _, c := range v.workloads[n].cas {
			out = append(out, v.workloadCAInfo(n, c, now))
		}
	}
	return out
}

func (s *Server) listCAs(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.v.Load().cas(s.cfg.Now()))
}

// rotateROTCA makes a new ROT CA current and gives every workload a new Workload CA under it,
// so nothing current hangs off the old ROT CA any more and it can be retired once pods have
// renewed. The old CAs stay in bundles until they expire or are retired.
func (s *Server) rotateROTCA(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.rotateRootLocked(r.Context(), true); err != nil {
		writeError(w, storeStatus(err), err.Error())
		return
	}
	v := s.v.Load()
	created := []rotapi.CA{caInfo(rotapi.CAKindROT, "", v.root, true, nil)}
	for _, name := range sortedNames(v) {
		if err := s.rotateWorkloadCALocked(r.Context(), name, true, immediate(r)); err != nil {
			writeError(w, storeStatus(err), fmt.Sprintf("%v (the new ROT CA is in place; fix: sealctl rotate workload-ca %s)", err, name))
			return
		}
		created = append(created, s.v.Load().newestCAInfo(name, s.cfg.Now()))
	}
	s.audit(r, "rotate-rot-ca", "fingerprint", v.root.Fingerprint(), "workloadCAs", len(created)-1)
	writeJSON(w, http.StatusOK, rotapi.RotateResponse{Created: created})
}

func sortedNames(v *view) []string {
	names := make([]string, 0, len(v.workloads))
	for n := range v.workloads {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func (s *Server) rotateWorkloadCA(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.knowWorkloadLocked(r.Context(), name)
	if _, ok := s.v.Load().workloads[name]; !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("rot: workload %q does not exist", name))
		return
	}
	if err := s.rotateWorkloadCALocked(r.Context(), name, true, immediate(r)); err != nil {
		writeError(w, storeStatus(err), err.Error())
		return
	}
	created := s.v.Load().newestCAInfo(name, s.cfg.Now())
	s.audit(r, "rotate-workload-ca", "workload", name, "fingerprint", created.Fingerprint, "now", immediate(r))
	writeJSON(w, http.StatusOK, rotapi.RotateResponse{Created: []rotapi.CA{created}})
}

func (s *Server) rotateEggKey(w http.ResponseWriter, r *http.Request) {
	kid, err := s.RotateEggKey(r.Context())
	if err != nil {
		writeError(w, storeStatus(err), err.Error())
		return
	}
	s.audit(r, "rotate-egg-key", "kid", kid)
	writeJSON(w, http.StatusOK, rotapi.EggKeyResponse{KeyID: kid})
}

// retireCA drops a CA before it expires (SPIRE's revoke after prepare, activate and taint):
// it leaves /v1/bundle, trust bundles and the state, so its key signs nothing more. The
// current CA of its kind cannot be retired (rotate first), nor a ROT CA that still signs a
// current Workload CA or the calling admin's certificate. A ROT CA takes the older Workload
// CAs it signed with it, since they no longer chain to the trust domain's bundle.
func (s *Server) retireCA(w http.ResponseWriter, r *http.Request) {
	fp := strings.ToLower(r.PathValue("fingerprint"))
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.v.Load()
	all := v.cas(s.cfg.Now())
	var match []rotapi.CA
	if len(fp) >= minFingerprintPrefix {
		for _, c := range all {
			if strings.HasPrefix(c.Fingerprint, fp) {
				match = append(match, c)
			}
		}
	}
	switch {
	case len(fp) < minFingerprintPrefix:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("rot: fingerprint %q is too short: give at least %d hex digits (sealctl ca list)", fp, minFingerprintPrefix))
		return
	case len(match) == 0:
		writeError(w, http.StatusNotFound, fmt.Sprintf("rot: no CA in use has the fingerprint %s (sealctl ca list shows them)", fp))
		return
	case len(match) > 1:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("rot: fingerprint prefix %s matches %d CAs: give more digits", fp, len(match)))
		return
	}
	target := match[0]
	var retired []rotapi.CA
	var err error
	if target.Kind == rotapi.CAKindROT {
		retired, err = s.retireRootLocked(r, v, target)
	} else {
		retired, err = s.retireWorkloadCALocked(r.Context(), v, target)
	}
	if err != nil {
		code := storeStatus(err)
		if errors.Is(err, errRetire) {
			code = http.StatusConflict
		}
		writeError(w, code, err.Error())
		return
	}
	s.audit(r, "ca-retire", "kind", target.Kind, "workload", target.Workload, "fingerprint", target.Fingerprint, "retired", len(retired))
	writeJSON(w, http.StatusOK, rotapi.RetireResponse{Retired: retired, BundleSequence: s.st.Authority.BundleSequence})
}

func (s *Server) retireRootLocked(r *http.Request, v *view, target rotapi.CA) ([]rotapi.CA, error) {
	var root *ca.CA
	for _, c := range v.roots {
		if c.Fingerprint() == target.Fingerprint {
			root = c
		}
	}
	if root == v.root {
		return nil, fmt.Errorf("%w ROT CA %s: it is the current one and signs; fix: sealctl rotate rot-ca first, wait until pods have renewed their certificates, then retire it", errRetire, target.Fingerprint)
	}
	if leaf := r.TLS.PeerCertificates[0]; leaf.CheckSignatureFrom(root.Cert) == nil {
		return nil, fmt.Errorf("%w ROT CA %s: it signed your admin certificate, which would stop working; fix: issue admin credentials from the current ROT CA (seal-rot admin-cert) and retry with them", errRetire, target.Fingerprint)
	}
	var busy []string
	for _, name := range sortedNames(v) {
		if cur, _ := v.workloads[name].signing(s.cfg.Now()); cur.Cert.CheckSignatureFrom(root.Cert) == nil {
			busy = append(busy, name)
		}
	}
	if len(busy) > 0 {
		return nil, fmt.Errorf("%w ROT CA %s: it signed the current Workload CA of %s; fix: sealctl rotate workload-ca %s (or sealctl rotate rot-ca, which rotates every workload), wait until pods have renewed, then retire it", errRetire, target.Fingerprint, strings.Join(busy, ", "), busy[0])
	}
	retired := []rotapi.CA{target}
	// Workloads first: if saving the authority then fails, a retry still finds the ROT CA.
	for _, name := range sortedNames(v) {
		wv := v.workloads[name]
		var drop []*ca.CA
		for _, c := range wv.cas {
			if c.Cert.CheckSignatureFrom(root.Cert) == nil {
				drop = append(drop, c)
			}
		}
		if len(drop) == 0 {
			continue
		}
		if err := s.putWorkloadCAsLocked(r.Context(), wv, drop); err != nil {
			return nil, err
		}
		for _, c := range drop {
			retired = append(retired, caInfo(rotapi.CAKindWorkload, name, c, false, v.roots))
		}
	}
	a := *s.st.Authority
	a.CAs = nil
	for _, c := range ca.Unexpired(v.roots, s.cfg.Now()) {
		if c == root {
			continue
		}
		kp, err := keyPair(c, s.opts)
		if err != nil {
			return nil, err
		}
		a.CAs = append(a.CAs, kp)
	}
	a.BundleSequence++
	if err := s.putAuthorityLocked(r.Context(), &a, "retired ROT CA", "fingerprint", target.Fingerprint); err != nil {
		return nil, err
	}
	s.renewServingNow() // the serving certificate may have been signed by the retired CA
	return retired, nil
}

func (s *Server) retireWorkloadCALocked(ctx context.Context, v *view, target rotapi.CA) ([]rotapi.CA, error) {
	wv := v.workloads[target.Workload]
	if cur, _ := wv.signing(s.cfg.Now()); cur.Fingerprint() == target.Fingerprint {
		if next := v.newestCAInfo(target.Workload, s.cfg.Now()); next.SignsFrom != nil {
			return nil, fmt.Errorf("%w the Workload CA %s of %q: it signs until %s, when the published %s takes over; fix: retry after that, once pods have renewed (or sealctl rotate workload-ca %s --now after a compromise)",
				errRetire, target.Fingerprint, target.Workload, next.SignsFrom.Format(time.RFC3339), next.Fingerprint, target.Workload)
		}
		return nil, fmt.Errorf("%w the Workload CA %s of %q: it is the current one and signs; fix: sealctl rotate workload-ca %s first, wait until pods have renewed their certificates, then retire it", errRetire, target.Fingerprint, target.Workload, target.Workload)
	}
	var drop []*ca.CA
	for _, c := range wv.cas {
		if c.Fingerprint() == target.Fingerprint {
			drop = append(drop, c)
		}
	}
	if err := s.putWorkloadCAsLocked(ctx, wv, drop); err != nil {
		return nil, err
	}
	s.log.Info("retired workload CA", "audit", true, "workload", target.Workload, "fingerprint", target.Fingerprint)
	return []rotapi.CA{target}, nil
}

// putWorkloadCAsLocked saves wv's record without the CAs in drop (and without expired ones).
func (s *Server) putWorkloadCAsLocked(ctx context.Context, wv *workloadView, drop []*ca.CA) error {
	rec := *wv.rec
	rec.CAs = nil
	for _, c := range ca.Unexpired(wv.cas, s.cfg.Now()) {
		if slices.Contains(drop, c) {
			continue
		}
		kp, err := keyPair(c, s.opts)
		if err != nil {
			return err
		}
		kp.ActiveFrom = wv.activeFrom(c)
		rec.CAs = append(rec.CAs, kp)
	}
	return s.putWorkloadLocked(ctx, &rec)
}
