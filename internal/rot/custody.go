package rot

import (
	"context"
	"fmt"

	"github.com/seal-dev/seal/internal/ca"
	"github.com/seal-dev/seal/internal/custody"
	"github.com/seal-dev/seal/internal/egg"
	"github.com/seal-dev/seal/internal/store"
)

// The ROT's keys go through one seam, ca.Options.Custody (Config.Keys, internal/custody):
// CA keys are made by it and stored in its form (PEM, sealed PEM, or a token handle), and the
// egg-sealing keys and data keys are sealed by it before they are stored and opened when the
// state is loaded. In memory (the view) everything is usable; in the store nothing is in clear
// when the provider protects (a KEK or a token).

// sealEggKey returns the stored form of egg-sealing key kid.
func sealEggKey(kid string, key []byte, o ca.Options) ([]byte, error) {
	s, err := o.Seal(custody.EggKeyName(kid), key)
	return []byte(s), err
}

// openKeyring opens every stored egg-sealing key.
func openKeyring(kr *egg.Keyring, o ca.Options) (*egg.Keyring, error) {
	out := &egg.Keyring{Current: kr.Current, Keys: make(map[string][]byte, len(kr.Keys))}
	for kid, stored := range kr.Keys {
		k, err := o.Unseal(custody.EggKeyName(kid), string(stored))
		if err != nil {
			return nil, fmt.Errorf("rot: egg-sealing key %s: %w", kid, err)
		}
		if len(k) != egg.KeySize {
			return nil, fmt.Errorf("rot: egg-sealing key %s: %w: %d bytes", kid, store.ErrCorrupt, len(k))
		}
		out.Keys[kid] = k
	}
	return out, nil
}

// sealClear upgrades state written in clear (before a KEK or token was configured) or under a
// previous KEK (--kek-previous-file): when the provider protects, every CA key, egg-sealing key
// and data key the provider calls Stale is stored again in its current form, the authority
// first, then each workload. A crash in between
// leaves a mix that loads and is finished on the next start. It runs once at start, before
// the state is served.
func (s *Server) sealClear(ctx context.Context, st *store.State) error {
	keys := s.cfg.Keys
	if !keys.Protects() {
		return nil
	}
	a := *st.Authority
	changed := false
	cas, n, err := s.sealCAs(a.CAs)
	if err != nil {
		return err
	}
	if n > 0 {
		a.CAs, changed = cas, true
	}
	eggKeys := egg.Keyring{Current: a.EggKeys.Current, Keys: map[string][]byte{}}
	for kid, k := range a.EggKeys.Keys {
		if keys.Stale(string(k)) {
			if k, err = s.opts.Unseal(custody.EggKeyName(kid), string(k)); err != nil {
				return err
			}
			if k, err = sealEggKey(kid, k, s.opts); err != nil {
				return err
			}
			changed = true
		}
		eggKeys.Keys[kid] = k
	}
	a.EggKeys = eggKeys
	a.JWTKeys = append([]store.JWTKey(nil), a.JWTKeys...)
	for i, k := range a.JWTKeys {
		if keys.Stale(k.Key) {
			plain, err := s.opts.Unseal(custody.JWTKeyName(k.ID), k.Key)
			if err != nil {
				return err
			}
			if a.JWTKeys[i].Key, err = s.opts.Seal(custody.JWTKeyName(k.ID), plain); err != nil {
				return err
			}
			changed = true
		}
	}
	if changed {
		if err := s.cfg.Store.PutAuthority(ctx, &a); err != nil {
			return fmt.Errorf("rot: saving the authority with its keys sealed: %w", err)
		}
		st.Authority = &a
		s.log.Info("sealed the authority's keys stored in clear or under a previous KEK", "audit", true, "provider", keys.Provider())
	}
	for name, w := range st.Workloads {
		rec := *w
		cas, n, err := s.sealCAs(rec.CAs)
		if err != nil {
			return fmt.Errorf("rot: workload %q: %w", name, err)
		}
		rec.CAs = cas
		rec.DataKeys = append([]store.DataKey(nil), w.DataKeys...)
		for i, k := range rec.DataKeys {
			if keys.Stale(k.Identity) {
				plain, err := s.opts.Unseal(custody.DataKeyName(name, k.Index), k.Identity)
				if err != nil {
					return err
				}
				if rec.DataKeys[i].Identity, err = s.opts.Seal(custody.DataKeyName(name, k.Index), plain); err != nil {
					return err
				}
				n++
			}
		}
		if n == 0 {
			continue
		}
		if err := s.cfg.Store.PutWorkload(ctx, &rec); err != nil {
			return fmt.Errorf("rot: saving workload %q with its keys sealed: %w", name, err)
		}
		st.Workloads[name] = &rec
		s.log.Info("sealed a workload's keys stored in clear or under a previous KEK", "audit", true, "workload", name, "provider", keys.Provider())
	}
	return nil
}

// sealCAs returns kps with every key in clear stored in the provider's form, and how many.
func (s *Server) sealCAs(kps []store.KeyPair) ([]store.KeyPair, int, error) {
	out := make([]store.KeyPair, len(kps))
	n := 0
	for i, kp := range kps {
		out[i] = kp
		if !s.cfg.Keys.Stale(kp.Key) {
			continue
		}
		c, err := s.opts.Open(kp.Cert, kp.Key)
		if err != nil {
			return nil, 0, fmt.Errorf("rot: stored CA %d: %w", i, err)
		}
		if out[i], err = keyPair(c, s.opts); err != nil {
			return nil, 0, err
		}
		out[i].ActiveFrom = kp.ActiveFrom
		n++
	}
	return out, n, nil
}
