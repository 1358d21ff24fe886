package rot_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seal-dev/seal/internal/custody"
	"github.com/seal-dev/seal/internal/migrate"
	"github.com/seal-dev/seal/internal/rot/rottest"
	"github.com/seal-dev/seal/internal/store"
)

// migrateKeys moves the state directory src to a new directory whose keys to keeps (from opens
// the source's), as seal-rot migrate --to-key-provider/--to-kek-file does, and returns it.
func migrateKeys(t *testing.T, src string, from, to custody.Keys) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "moved")
	fs, err := store.OpenFile(src)
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	ds, err := store.OpenFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	if _, err := migrate.Migrate(context.Background(), fs, ds, migrate.Options{From: from, To: to}); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	// Admin credentials are not state: the admin brings theirs (rottest reads them from DIR/admin).
	if err := os.CopyFS(filepath.Join(dst, "admin"), os.DirFS(filepath.Join(src, "admin"))); err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestMigrateSealsForTheDestinationKEK: a ROT whose keys are in clear moves into a state
// directory sealed under a KEK: no key is in clear there, the moved ROT starts with the KEK
// only, and an Egg minted before the move redeems, with the workload's secret and JWT-SVIDs.
func TestMigrateSealsForTheDestinationKEK(t *testing.T) {
	src, kek := filepath.Join(t.TempDir(), "src"), newKEK(t)
	var egg string
	t.Run("serve in clear", func(t *testing.T) {
		egg = exercise(t, rottest.Start(t, rottest.WithStateDir(src)))
	})
	dst := migrateKeys(t, src, nil, fileKeys(t, kek))
	if found := clearKeys(t, dst); len(found) > 0 {
		t.Errorf("keys in clear in the moved state directory:\n%s", strings.Join(found, "\n"))
	}
	if len(clearKeys(t, src)) == 0 {
		t.Error("the source holds no key in clear any more: migrate wrote to it")
	}
	if err := openROT(t, dst, nil); err == nil {
		t.Error("the moved state started without its KEK")
	}
	t.Run("serve the moved state with the KEK", func(t *testing.T) {
		r := rottest.Start(t, rottest.WithStateDir(dst), rottest.WithKeys(fileKeys(t, kek)))
		redeem(t, r, egg)
		c, ids := pod(t, r, "payments")
		d, _, err := c.Secrets(ctx(t), "")
		if err != nil {
			t.Fatal(err)
		}
		if got := values(t, d, ids...)["db-password"]; got != "v1" {
			t.Errorf("db-password after the move = %q, want v1", got)
		}
	})
}
