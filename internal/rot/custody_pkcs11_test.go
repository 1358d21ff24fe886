//go:build cgo

package rot_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seal-dev/seal/internal/custody"
	"github.com/seal-dev/seal/internal/custody/custodytest"
	"github.com/seal-dev/seal/internal/rot/rottest"
)

func tokenKeys(t *testing.T, cfg custody.PKCS11Config) custody.Keys {
	t.Helper()
	p, err := custody.OpenPKCS11(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// With the pkcs11 provider (a real SoftHSM2 token) redemption, every rotation and a restart
// work, the state holds handles and sealed values only, and a copy of the state directory
// without the token cannot start a ROT that signs.
func TestPKCS11ROT(t *testing.T) {
	cfg, _ := custodytest.SoftHSM(t, "seal-rot")
	dir := t.TempDir()
	var egg string
	t.Run("serve", func(t *testing.T) {
		r := rottest.Start(t, rottest.WithStateDir(dir), rottest.WithKeys(tokenKeys(t, cfg)))
		egg = exercise(t, r)
	})
	if found := clearKeys(t, dir); len(found) > 0 {
		t.Errorf("keys in clear in the state directory with --key-provider pkcs11:\n%s", strings.Join(found, "\n"))
	}
	b, err := os.ReadFile(filepath.Join(dir, "authority.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"key": "pkcs11:object=seal-ca-`) {
		t.Errorf("authority.json holds no pkcs11: handle for the ROT CA key:\n%.400s", b)
	}
	t.Run("restart", func(t *testing.T) {
		r := rottest.Start(t, rottest.WithStateDir(dir), rottest.WithKeys(tokenKeys(t, cfg)))
		redeem(t, r, egg)
	})

	// The state directory copied elsewhere: without the token (file provider) or with
	// another token of the same label, no ROT starts.
	cp := t.TempDir()
	if err := os.CopyFS(cp, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(cp, "lock"))
	if err := openROT(t, cp, nil); !errors.Is(err, custody.ErrTokenRequired) {
		t.Errorf("start of the copy without a token = %v, want ErrTokenRequired", err)
	}
	other, _ := custodytest.SoftHSM(t, "seal-rot")
	if err := openROT(t, cp, tokenKeys(t, other)); !errors.Is(err, custody.ErrNotOnToken) {
		t.Errorf("start of the copy with another token = %v, want ErrNotOnToken", err)
	}
}

// State written by the file provider moves onto a token on the first start with pkcs11: the
// CA keys are imported, the secrets wrapped, and the Eggs keep redeeming.
func TestPKCS11TakesOverFileState(t *testing.T) {
	cfg, _ := custodytest.SoftHSM(t, "seal-rot")
	dir := t.TempDir()
	var egg string
	t.Run("file", func(t *testing.T) {
		r := rottest.Start(t, rottest.WithStateDir(dir))
		r.CreateWorkload(t, rotapiWorkload("payments"))
		egg = r.MintEgg(t, "payments", mint())
	})
	t.Run("pkcs11", func(t *testing.T) {
		r := rottest.Start(t, rottest.WithStateDir(dir), rottest.WithKeys(tokenKeys(t, cfg)))
		redeem(t, r, egg)
	})
	if found := clearKeys(t, dir); len(found) > 0 {
		t.Errorf("keys in clear after the first start with pkcs11:\n%s", strings.Join(found, "\n"))
	}
}
