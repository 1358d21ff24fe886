package custody_test

import (
	"errors"
	"testing"

	"filippo.io/age"

	"github.com/seal-dev/seal/internal/ca"
	"github.com/seal-dev/seal/internal/custody"
	"github.com/seal-dev/seal/internal/egg"
	"github.com/seal-dev/seal/internal/store"
)

// sealedState is a state as the ROT writes it under keys: a ROT CA, a Workload CA, an egg key
// and a data key, each in keys' stored form.
func sealedState(t *testing.T, keys custody.Keys) (*store.State, *ca.CA, string) {
	t.Helper()
	o := ca.Options{Custody: keys}
	root, err := ca.NewRoot("td.example", 0, o)
	if err != nil {
		t.Fatal(err)
	}
	wca, err := root.NewIntermediate("td.example", "w", 0, o)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := age.GenerateX25519Identity()
	rk, _ := keys.Marshal(root)
	wk, _ := keys.Marshal(wca)
	ek, _ := keys.Seal(custody.EggKeyName("k-1"), make([]byte, egg.KeySize))
	dk, _ := keys.Seal(custody.DataKeyName("w", 0), []byte(id.String()))
	st := store.NewState()
	st.Authority = &store.Authority{TrustDomain: "td.example", CAs: []store.KeyPair{{Cert: string(root.CertPEM()), Key: rk}},
		EggKeys: egg.Keyring{Current: "k-1", Keys: map[string][]byte{"k-1": []byte(ek)}}}
	st.Workloads["w"] = &store.Workload{Spec: store.WorkloadSpec{Name: "w"}, CAs: []store.KeyPair{{Cert: string(wca.CertPEM()), Key: wk}},
		DataKeys: []store.DataKey{{Index: 0, Identity: dk}}}
	return st, root, id.String()
}

func TestResealMovesBetweenKEKs(t *testing.T) {
	from, to := fileKeys(t, kek(t)), fileKeys(t, kek(t))
	st, root, identity := sealedState(t, from)
	if err := custody.Reseal(st, from, to); err != nil {
		t.Fatal(err)
	}
	c, err := to.Open(st.Authority.CAs[0].Cert, st.Authority.CAs[0].Key)
	if err != nil || c.Fingerprint() != root.Fingerprint() {
		t.Fatalf("ROT CA under the new KEK: %v", err)
	}
	if _, err := from.Open(st.Authority.CAs[0].Cert, st.Authority.CAs[0].Key); !errors.Is(err, custody.ErrKEKRequired) {
		t.Errorf("the old KEK still opens the resealed ROT CA: %v", err)
	}
	if p, err := to.Unseal(custody.DataKeyName("w", 0), st.Workloads["w"].DataKeys[0].Identity); err != nil || string(p) != identity {
		t.Errorf("data key under the new KEK = %v", err)
	}
	if _, err := to.Unseal(custody.EggKeyName("k-1"), string(st.Authority.EggKeys.Keys["k-1"])); err != nil {
		t.Errorf("egg key under the new KEK: %v", err)
	}
}
