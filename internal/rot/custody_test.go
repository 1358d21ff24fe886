package rot_test

import (
	"context"
	"crypto/rand"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seal-dev/seal/internal/ca"
	"github.com/seal-dev/seal/internal/custody"
	"github.com/seal-dev/seal/internal/rot"
	"github.com/seal-dev/seal/internal/rot/rottest"
	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/store"
)

func newKEK(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, custody.KEKSize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func fileKeys(t *testing.T, kek []byte) custody.Keys {
	t.Helper()
	k, err := custody.NewFile(kek, nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// clearKeys lists every private key in clear in the state directory: PEM private keys and age
// identities in any file, and egg-sealing keys not sealed in authority.json. DIR/admin holds
// the admin's own client credentials for sealctl and is not the ROT's state.
func clearKeys(t *testing.T, dir string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "admin" {
				return filepath.SkipDir
			}
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, f := range custody.ScanClear(b) {
			found = append(found, strings.TrimPrefix(path, dir)+": "+f)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	state, err := st.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for kid, k := range state.Authority.EggKeys.Keys {
		if custody.IsPlain(string(k)) {
			found = append(found, "egg-sealing key "+kid+" in clear")
		}
	}
	return found
}

// exercise creates a workload with a secret, rotates every key (the JWT-SVID key too) and
// redeems, then fetches the secret and a JWT-SVID as a pod: it returns an Egg minted before the
// rotations.
func exercise(t *testing.T, r *rottest.ROT) string {
	t.Helper()
	r.CreateWorkload(t, rotapi.Workload{Name: "payments"})
	putSecret(t, r, "payments", "db-password", "v1", nil, nil) // re-encrypted by the data-key rotation
	egg := r.MintEgg(t, "payments", rotapi.MintRequest{})
	if _, err := r.Server.RotateJWTKey(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Server.RotateEggKey(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if err := r.Server.RotateROTCA(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if err := r.Server.RotateWorkloadCA(ctx(t), "payments"); err != nil {
		t.Fatal(err)
	}
	if err := r.Admin.Do(ctx(t), "POST", strings.Replace(rotapi.PathKeys, "{name}", "payments", 1), nil, nil); err != nil {
		t.Fatal(err)
	}
	redeem(t, r, egg)
	redeem(t, r, r.MintEgg(t, "payments", rotapi.MintRequest{}))
	c, ids := pod(t, r, "payments")
	d, _, err := c.Secrets(ctx(t), "")
	if err != nil {
		t.Fatalf("GET /v1/secrets: %v", err)
	}
	if got := values(t, d, ids...)["db-password"]; got != "v1" {
		t.Errorf("the pod's secret db-password = %q, want v1", got)
	}
	if _, err := c.FetchJWTSVID(ctx(t), []string{"db"}); err != nil {
		t.Errorf("POST /v1/jwt-svid: %v", err)
	}
	return egg
}

// redeem redeems egg and checks the chain verifies against the bundle it came with.
func redeem(t *testing.T, r *rottest.ROT, egg string) *rotapi.RedeemResponse {
	t.Helper()
	resp, err := r.Client(t, nil).Redeem(ctx(t), &rotapi.RedeemRequest{Egg: egg, CSR: csrFor(t, p256(t), nil)})
	if err != nil {
		t.Fatalf("redeem: %v", err)
	}
	chain, err := ca.ParseCerts([]byte(resp.Certificate))
	if err != nil {
		t.Fatal(err)
	}
	if err := chain[0].CheckSignatureFrom(chain[1]); err != nil {
		t.Errorf("leaf does not verify against its Workload CA: %v", err)
	}
	if len(resp.DataKeys) == 0 || !strings.HasPrefix(resp.DataKeys[0].Identity, "AGE-SECRET-KEY-") {
		t.Errorf("data keys %v: want age identities in the response", len(resp.DataKeys))
	}
	return resp
}

// openROT runs rot.New on dir and returns its error (the ROT is not served).
func openROT(t *testing.T, dir string, keys custody.Keys) error {
	t.Helper()
	st, err := store.OpenFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_, err = rot.New(ctx(t), rot.Config{Store: st, TrustDomain: "test.seal.dev", ExternalURL: "https://127.0.0.1:1", Keys: keys, Logger: slog.New(slog.DiscardHandler)})
	return err
}

func TestKEKSealsEveryStoredKey(t *testing.T) {
	dir, kek := t.TempDir(), newKEK(t)
	var egg string
	t.Run("serve", func(t *testing.T) {
		r := rottest.Start(t, rottest.WithStateDir(dir), rottest.WithKeys(fileKeys(t, kek)))
		egg = exercise(t, r)
	})
	if found := clearKeys(t, dir); len(found) > 0 {
		t.Errorf("keys in clear in the state directory with --kek-file:\n%s", strings.Join(found, "\n"))
	}
	t.Run("restart with the KEK", func(t *testing.T) {
		r := rottest.Start(t, rottest.WithStateDir(dir), rottest.WithKeys(fileKeys(t, kek)))
		redeem(t, r, egg)
	})
	tests := []struct {
		name string
		keys custody.Keys
	}{
		{"no KEK", nil},
		{"another KEK", fileKeys(t, newKEK(t))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := openROT(t, dir, tc.keys)
			if !errors.Is(err, custody.ErrKEKRequired) || !strings.Contains(err.Error(), "--kek-file") {
				t.Errorf("start = %v, want ErrKEKRequired naming --kek-file", err)
			}
		})
	}
}

// State written in clear is sealed on the first start with a KEK; its Eggs keep redeeming and
// its CAs stay the same.
func TestKEKSealsClearStateOnStart(t *testing.T) {
	dir, kek := t.TempDir(), newKEK(t)
	var egg, fp string
	t.Run("clear", func(t *testing.T) {
		r := rottest.Start(t, rottest.WithStateDir(dir))
		fp = r.CreateWorkload(t, rotapi.Workload{Name: "payments"}).CAFingerprint
		egg = r.MintEgg(t, "payments", rotapi.MintRequest{})
	})
	if found := clearKeys(t, dir); len(found) == 0 {
		t.Fatal("the state written without a KEK has no key in clear: the test sees nothing")
	}
	t.Run("with KEK", func(t *testing.T) {
		r := rottest.Start(t, rottest.WithStateDir(dir), rottest.WithKeys(fileKeys(t, kek)))
		redeem(t, r, egg)
		var w rotapi.Workload
		if err := r.Admin.Do(ctx(t), "GET", strings.Replace(rotapi.PathWorkload, "{name}", "payments", 1), nil, &w); err != nil {
			t.Fatal(err)
		}
		if w.CAFingerprint != fp {
			t.Errorf("Workload CA %s after sealing, want the same %s", w.CAFingerprint, fp)
		}
	})
	if found := clearKeys(t, dir); len(found) > 0 {
		t.Errorf("keys still in clear after a start with --kek-file:\n%s", strings.Join(found, "\n"))
	}
}

func rotapiWorkload(name string) rotapi.Workload { return rotapi.Workload{Name: name} }

func mint() rotapi.MintRequest { return rotapi.MintRequest{} }

// stateHolds reports whether any file of the state directory holds s.
func stateHolds(t *testing.T, dir, s string) bool {
	t.Helper()
	found := false
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, _ := os.ReadFile(path); strings.Contains(string(b), s) {
				found = true
			}
		}
		return nil
	})
	return found
}

// Rotating the KEK: a start with the new KEK and the previous one seals everything again under
// the new one; then the new KEK alone serves the state and the old one opens nothing.
func TestKEKRotation(t *testing.T) {
	dir, oldKEK, newKEK := t.TempDir(), newKEK(t), newKEK(t)
	var egg string
	t.Run("old KEK", func(t *testing.T) {
		egg = exercise(t, rottest.Start(t, rottest.WithStateDir(dir), rottest.WithKeys(fileKeys(t, oldKEK))))
	})
	oldID, newID := "seal-kek:v1:"+custody.KEKID(oldKEK)+":", "seal-kek:v1:"+custody.KEKID(newKEK)+":"
	if !stateHolds(t, dir, oldID) {
		t.Fatal("the state holds nothing sealed under the old KEK: the test sees nothing")
	}
	t.Run("rotate", func(t *testing.T) {
		both, err := custody.NewFile(newKEK, nil, oldKEK)
		if err != nil {
			t.Fatal(err)
		}
		redeem(t, rottest.Start(t, rottest.WithStateDir(dir), rottest.WithKeys(both)), egg)
	})
	if stateHolds(t, dir, oldID) || !stateHolds(t, dir, newID) {
		t.Errorf("after the rotation: old KEK id in the state %v, new KEK id %v; want only the new one", stateHolds(t, dir, oldID), stateHolds(t, dir, newID))
	}
	if found := clearKeys(t, dir); len(found) > 0 {
		t.Errorf("keys in clear after the KEK rotation:\n%s", strings.Join(found, "\n"))
	}
	t.Run("new KEK alone", func(t *testing.T) {
		redeem(t, rottest.Start(t, rottest.WithStateDir(dir), rottest.WithKeys(fileKeys(t, newKEK))), egg)
	})
	if err := openROT(t, dir, fileKeys(t, oldKEK)); !errors.Is(err, custody.ErrKEKRequired) {
		t.Errorf("start with the old KEK after the rotation = %v, want ErrKEKRequired", err)
	}
}
