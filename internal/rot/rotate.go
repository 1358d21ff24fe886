package rot

import (
	"cmp"
	"context"
	"crypto/x509"
	"fmt"
	"slices"
	"time"

	"github.com/seal-dev/seal/internal/ca"
	"github.com/seal-dev/seal/internal/egg"
	"github.com/seal-dev/seal/internal/store"
)

// Rotate gives every CA that has used up two thirds of its life a successor (the ROT CA and
// each Workload CA) and drops expired ones. Old and new stay side by side in trust bundles
// until the old one expires, so certificates issued by either keep verifying. It runs at start
// and hourly, and does nothing while the ROT is drained.
func (s *Server) Rotate(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.Authority.Drained != nil {
		return nil // drained: the state stays as it is (for a migration) until resumed
	}
	now := s.cfg.Now()
	v := s.v.Load()
	if addRoot := s.rootNeedsRotation(v.root, now); addRoot || len(ca.Unexpired(v.roots, now)) != len(s.st.Authority.CAs) {
		if err := s.rotateRootLocked(ctx, addRoot); err != nil {
			return err
		}
	}
	if addNew, prune := jwtNeedsRotation(s.st.Authority.JWTKeys, now); addNew || prune {
		if _, err := s.rotateJWTLocked(ctx, addNew); err != nil {
			return err
		}
	}
	for name, wv := range s.v.Load().workloads {
		cur, _ := wv.signing(now)
		addNew := ca.NeedsRotation(cur, now) && !wv.hasPending(now) // a published successor is on its way
		if addNew || len(ca.Unexpired(wv.cas, now)) != len(wv.rec.CAs) {
			if err := s.rotateWorkloadCALocked(ctx, name, addNew, false); err != nil {
				return err
			}
		}
	}
	return nil
}

// RotateROTCA creates a new ROT CA now. The old one stays in the trust domain's bundle (and
// keeps verifying the Workload CAs it signed) until it expires; new Workload CAs, serving and
// admin certificates come from the new one.
func (s *Server) RotateROTCA(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rotateRootLocked(ctx, true)
}

// RotateWorkloadCA creates a new Workload CA for name that signs at once (as sealctl rotate
// workload-ca --now), keeping the old one in the bundle until it expires.
func (s *Server) RotateWorkloadCA(ctx context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rotateWorkloadCALocked(ctx, name, true, true)
}

// rotateWorkloadCALocked drops name's expired Workload CAs and, when addNew, adds a successor:
// signing at once when immediate, else published now and signing after the activation delay.
func (s *Server) rotateWorkloadCALocked(ctx context.Context, name string, addNew, immediate bool) error {
	v := s.v.Load()
	wv, ok := v.workloads[name]
	if !ok {
		return fmt.Errorf("%w: %q", errUnknownWorkload, name)
	}
	rec := *wv.rec
	rec.CAs = nil
	for _, c := range ca.Unexpired(wv.cas, s.cfg.Now()) { // expired CAs are dropped, not-yet-valid ones kept
		kp, err := keyPair(c, s.opts)
		if err != nil {
			return err
		}
		kp.ActiveFrom = wv.activeFrom(c)
		if immediate && addNew {
			kp.ActiveFrom = time.Time{} // a compromise: nothing published waits for the old CA
		}
		rec.CAs = append(rec.CAs, kp)
	}
	if addNew {
		c, err := v.root.NewIntermediate(s.td.Name(), name, s.cfg.WorkloadCATTL, s.opts)
		if err != nil {
			return err
		}
		kp, err := keyPair(c, s.opts)
		if err != nil {
			return err
		}
		if !immediate {
			kp.ActiveFrom = s.cfg.Now().Add(s.activationDelay(wv)).UTC()
		}
		rec.CAs = append(rec.CAs, kp)
		s.log.Info("rotated workload CA", "audit", true, "workload", name, "fingerprint", c.Fingerprint(), "notAfter", c.Cert.NotAfter,
			"signsFrom", cmp.Or(kp.ActiveFrom, s.cfg.Now()).UTC())
	}
	return s.putWorkloadLocked(ctx, &rec)
}

// putWorkloadLocked saves a workload record and publishes it.
func (s *Server) putWorkloadLocked(ctx context.Context, rec *store.Workload) error {
	wv, err := buildWorkload(rec, s.cfg.Now(), s.opts)
	if err != nil {
		return err
	}
	if err := s.cfg.Store.PutWorkload(ctx, rec); err != nil {
		return fmt.Errorf("rot: saving workload %q: %w", rec.Spec.Name, err)
	}
	s.st.Workloads[rec.Spec.Name] = rec
	nv := s.v.Load().clone()
	nv.addChains(wv)
	nv.workloads[rec.Spec.Name] = wv
	s.v.Store(nv)
	s.metrics.workloads.Set(float64(len(s.st.Workloads)))
	return nil
}

// rotateRootLocked drops expired ROT CAs and, when addNew, adds a successor; either way the
// bundle's sequence number grows.
func (s *Server) rotateRootLocked(ctx context.Context, addNew bool) error {
	v := s.v.Load()
	cas := ca.Unexpired(v.roots, s.cfg.Now())
	msg, attrs := "dropped expired ROT CAs", []any{"left", len(cas)}
	if addNew {
		root, err := s.newROTCA()
		if err != nil {
			return err
		}
		cas = append(slices.Clone(cas), root)
		msg, attrs = "rotated ROT CA", []any{"fingerprint", root.Fingerprint(), "notAfter", root.Cert.NotAfter}
	}
	a := *s.st.Authority
	a.CAs = nil
	for _, c := range cas {
		kp, err := keyPair(c, s.opts)
		if err != nil {
			return err
		}
		a.CAs = append(a.CAs, kp)
	}
	a.BundleSequence++
	return s.putAuthorityLocked(ctx, &a, msg, attrs...)
}

// RotateEggKey makes a fresh egg-sealing key current; Eggs sealed under older keys still open.
func (s *Server) RotateEggKey(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key, err := egg.NewKey(s.cfg.Rand)
	if err != nil {
		return "", err
	}
	kid, err := s.newID("k")
	if err != nil {
		return "", err
	}
	if key, err = sealEggKey(kid, key, s.opts); err != nil {
		return "", err
	}
	a := *s.st.Authority
	a.EggKeys = egg.Keyring{Current: kid, Keys: map[string][]byte{kid: key}}
	for k, b := range s.st.Authority.EggKeys.Keys {
		a.EggKeys.Keys[k] = b
	}
	return kid, s.putAuthorityLocked(ctx, &a, "rotated egg-sealing key", "kid", kid)
}

func (s *Server) putAuthorityLocked(ctx context.Context, a *store.Authority, msg string, attrs ...any) error {
	nv := s.v.Load().clone()
	if err := nv.setRoots(a, s.cfg.Now(), s.opts); err != nil {
		return err
	}
	if err := s.cfg.Store.PutAuthority(ctx, a); err != nil {
		return fmt.Errorf("rot: saving authority: %w", err)
	}
	s.st.Authority = a
	s.v.Store(nv)
	s.setAdmins(a)
	s.log.Info(msg, append([]any{"audit", true}, attrs...)...)
	return nil
}

func parseLeaf(der []byte) (*x509.Certificate, error) {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("rot: %w", err)
	}
	return c, nil
}
