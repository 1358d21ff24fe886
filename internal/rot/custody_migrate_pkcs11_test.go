//go:build cgo

package rot_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seal-dev/seal/internal/custody/custodytest"
	"github.com/seal-dev/seal/internal/rot/rottest"
)

// TestMigrateOntoAToken: a ROT whose keys are in clear moves onto a real SoftHSM2 token: the
// moved state names the CA keys by handle and holds no key in clear, and the moved ROT redeems
// an Egg minted before the move.
func TestMigrateOntoAToken(t *testing.T) {
	cfg, _ := custodytest.SoftHSM(t, "seal-migrate")
	src := filepath.Join(t.TempDir(), "src")
	var egg string
	t.Run("serve in clear", func(t *testing.T) {
		egg = exercise(t, rottest.Start(t, rottest.WithStateDir(src)))
	})
	dst := migrateKeys(t, src, nil, tokenKeys(t, cfg))
	b, err := os.ReadFile(filepath.Join(dst, "authority.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "pkcs11:") {
		t.Errorf("the moved authority does not name its ROT CA key by handle:\n%.300s", b)
	}
	if found := clearKeys(t, dst); len(found) > 0 {
		t.Errorf("keys in clear in the moved state directory:\n%s", strings.Join(found, "\n"))
	}
	t.Run("serve the moved state on the token", func(t *testing.T) {
		redeem(t, rottest.Start(t, rottest.WithStateDir(dst), rottest.WithKeys(tokenKeys(t, cfg))), egg)
	})
}
