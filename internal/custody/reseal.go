package custody

import (
	"fmt"

	"github.com/seal-dev/seal/internal/egg"
	"github.com/seal-dev/seal/internal/store"
)

// Reseal rewrites, in place, every key of st from provider from's form into provider to's: it
// is what seal-rot migrate calls to move a ROT between providers (file in clear, file under a
// KEK, pkcs11). With to a PKCS11, each CA key held in memory is imported onto the token once
// (non-extractable from then on) and st stores its handle; the source copy of the state still
// holds the key and must be destroyed. A CA key already on from's token cannot be moved to
// another provider (it is not extractable): Reseal then fails and st is unchanged.
func Reseal(st *store.State, from, to Keys) error {
	out := *st
	if a := st.Authority; a != nil {
		na := *a
		cas, err := resealCAs(a.CAs, from, to)
		if err != nil {
			return fmt.Errorf("custody: ROT CA: %w", err)
		}
		na.CAs = cas
		na.EggKeys = egg.Keyring{Current: a.EggKeys.Current, Keys: make(map[string][]byte, len(a.EggKeys.Keys))}
		for kid, k := range a.EggKeys.Keys {
			s, err := reseal(EggKeyName(kid), string(k), from, to)
			if err != nil {
				return err
			}
			na.EggKeys.Keys[kid] = []byte(s)
		}
		na.JWTKeys = append([]store.JWTKey(nil), a.JWTKeys...)
		for i, k := range na.JWTKeys {
			if na.JWTKeys[i].Key, err = reseal(JWTKeyName(k.ID), k.Key, from, to); err != nil {
				return err
			}
		}
		out.Authority = &na
	}
	out.Workloads = make(map[string]*store.Workload, len(st.Workloads))
	for name, w := range st.Workloads {
		nw := *w
		cas, err := resealCAs(w.CAs, from, to)
		if err != nil {
			return fmt.Errorf("custody: workload %q: %w", name, err)
		}
		nw.CAs = cas
		nw.DataKeys = append([]store.DataKey(nil), w.DataKeys...)
		for i, k := range nw.DataKeys {
			if nw.DataKeys[i].Identity, err = reseal(DataKeyName(name, k.Index), k.Identity, from, to); err != nil {
				return err
			}
		}
		out.Workloads[name] = &nw
	}
	if err := resealImageKeys(&out, from, to); err != nil {
		return err
	}
	*st = out
	return nil
}

func resealCAs(kps []store.KeyPair, from, to Keys) ([]store.KeyPair, error) {
	out := make([]store.KeyPair, len(kps))
	for i, kp := range kps {
		c, err := from.Open(kp.Cert, kp.Key)
		if err != nil {
			return nil, fmt.Errorf("CA %d: %w", i, err)
		}
		k, err := to.Marshal(c)
		if err != nil {
			return nil, fmt.Errorf("CA %d: %w", i, err)
		}
		out[i] = store.KeyPair{Cert: kp.Cert, Key: k}
	}
	return out, nil
}

func reseal(name, stored string, from, to Keys) (string, error) {
	p, err := from.Unseal(name, stored)
	if err != nil {
		return "", err
	}
	return to.Seal(name, p)
}
