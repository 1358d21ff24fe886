package migrate_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/seal-dev/seal/internal/migrate"
	"github.com/seal-dev/seal/internal/store"
	"github.com/seal-dev/seal/internal/store/storetest"
)

// source returns a state directory holding the conformance suite's sample records, a revoked
// Egg among them, and its store (closed when the test ends).
func source(t *testing.T) (string, store.Store) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "src")
	st := open(t, dir)
	ctx := context.Background()
	e2 := storetest.Egg()
	e2.ID, e2.Revoked = "egg-revoked", true
	inv := storetest.Invite()
	inv.Used, inv.UsedBy = &inv.Created, "partner.example"
	for _, err := range []error{
		st.PutAuthority(ctx, storetest.Authority()), st.PutWorkload(ctx, storetest.Workload()),
		st.PutEgg(ctx, storetest.Egg()), st.PutEgg(ctx, e2), st.PutBundle(ctx, storetest.Bundle()),
		st.PutInvite(ctx, inv), st.PutCluster(ctx, storetest.Cluster()),
		st.PutAttestationKey(ctx, storetest.AttestationKey()), st.PutAttestationPolicy(ctx, storetest.AttestationPolicy()),
		st.PutSecret(ctx, storetest.Secret("db-password")),
		st.PutImageKey(ctx, &store.ImageKey{ID: "0123456789abcdef0123456789abcdef", Workload: "payments", Key: "c2VjcmV0"}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return dir, st
}

func open(t *testing.T, dir string) *store.File {
	t.Helper()
	st, err := store.OpenFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// digest hashes every file of dir except the lock (names, modes, contents).
func digest(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Name() == "lock" {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %v %v\n", p, info.Mode(), info.ModTime())
		if !d.IsDir() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h.Write(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

func TestMigrateCopiesEverythingAndLeavesTheSource(t *testing.T) {
	srcDir, src := source(t)
	before := digest(t, srcDir)
	dst := open(t, filepath.Join(t.TempDir(), "dst"))
	plan, err := migrate.Migrate(context.Background(), src, dst, migrate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := digest(t, srcDir); got != before {
		t.Error("the source directory changed")
	}
	want, _ := src.Load(context.Background())
	got, err := dst.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate.Verify(want, got); err != nil {
		t.Error(err)
	}
	if k := got.ImageKeys["0123456789abcdef0123456789abcdef"]; k == nil || k.Key != "c2VjcmV0" || k.Workload != "payments" {
		t.Errorf("copied image key %+v, want the source's", k)
	}
	if got.Authority.BundleSequence != 7 || got.Eggs["egg-revoked"] == nil || !got.Eggs["egg-revoked"].Revoked {
		t.Errorf("copy: sequence %d, revoked egg %+v; want 7 and revoked", got.Authority.BundleSequence, got.Eggs["egg-revoked"])
	}
	for _, line := range []string{"trust domain conformance.example", "workloads", "egg records", "ROT CAs", "bundle sequence        7"} {
		if !strings.Contains(plan.String(), line) {
			t.Errorf("plan:\n%s\nwant a line with %q", plan, line)
		}
	}
}

func TestMigrateRefuses(t *testing.T) {
	ctx := context.Background()
	for name, tc := range map[string]struct {
		prepare func(t *testing.T) (from, to store.Store)
		want    error
		msg     string
	}{
		"non-empty destination": {func(t *testing.T) (store.Store, store.Store) {
			_, src := source(t)
			_, dst := source(t)
			return src, dst
		}, migrate.ErrNotEmpty, "1 authority, 1 clusters, 1 attestation keys, 1 attestation policies, 1 workloads, 1 secrets, 2 egg records, 1 bundles, 1 federation invites"},
		"destination with only an egg record": {func(t *testing.T) (store.Store, store.Store) {
			_, src := source(t)
			dst := open(t, filepath.Join(t.TempDir(), "dst"))
			if err := dst.PutBundle(ctx, storetest.Bundle()); err != nil {
				t.Fatal(err)
			}
			return src, dst
		}, migrate.ErrNotEmpty, "1 bundles"},
		"empty source": {func(t *testing.T) (store.Store, store.Store) {
			return open(t, filepath.Join(t.TempDir(), "a")), open(t, filepath.Join(t.TempDir(), "b"))
		}, migrate.ErrEmptySource, "no ROT state"},
	} {
		t.Run(name, func(t *testing.T) {
			from, to := tc.prepare(t)
			before, _ := to.Load(ctx)
			_, err := migrate.Migrate(ctx, from, to, migrate.Options{})
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Migrate() = %v, want %v naming %q", err, tc.want, tc.msg)
			}
			after, _ := to.Load(ctx)
			if err := migrate.Verify(before, after); err != nil {
				t.Errorf("the refused destination changed: %v", err)
			}
		})
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	_, src := source(t)
	dstDir := filepath.Join(t.TempDir(), "dst")
	dst := open(t, dstDir)
	plan, err := migrate.Migrate(context.Background(), src, dst, migrate.Options{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(plan.Counts, migrate.Count{Kind: "workloads", N: 1}) || plan.Counts[0] != (migrate.Count{Kind: "authority", N: 1}) {
		t.Errorf("plan counts = %v, want the authority first and 1 workload", plan.Counts)
	}
	ents, _ := os.ReadDir(dstDir)
	if len(ents) != 1 || ents[0].Name() != "lock" {
		t.Errorf("destination after --dry-run holds %v, want only its lock", ents)
	}
}

// TestVerifyNamesTheDifference: a copy that lost or changed something is refused with the check
// that saw it.
func TestVerifyNamesTheDifference(t *testing.T) {
	_, src := source(t)
	w := storetest.Workload()
	w.CAs[0].ActiveFrom = time.Unix(2e9, 0).UTC() // a published Workload CA's activation time
	if err := src.PutWorkload(context.Background(), w); err != nil {
		t.Fatal(err)
	}
	want, _ := src.Load(context.Background())
	for name, tc := range map[string]struct {
		change func(st *store.State)
		msg    string
	}{
		"lost egg":            {func(st *store.State) { delete(st.Eggs, "egg-revoked") }, "egg records: source 2, copy 1"},
		"other ROT CA":        {func(st *store.State) { st.Authority.CAs = st.Workloads["payments"].CAs[:1] }, "ROT CAs"},
		"other egg key":       {func(st *store.State) { st.Authority.EggKeys.Keys["k-1"] = []byte("x") }, "egg-sealing keys"},
		"sequence went back":  {func(st *store.State) { st.Authority.BundleSequence = 1 }, "bundle sequence"},
		"lost data key":       {func(st *store.State) { st.Workloads["payments"].DataKeys = nil }, "data keys"},
		"unrevoked egg":       {func(st *store.State) { st.Eggs["egg-revoked"].Revoked = false }, "revoked eggs"},
		"invite unused again": {func(st *store.State) { st.Invites[storetest.Invite().ID].Used = nil }, "used invites"},
		"lost bundle":         {func(st *store.State) { st.Bundles = map[string]*store.Bundle{} }, "bundles: source 1, copy 0"},
		"lost CA activation":  {func(st *store.State) { st.Workloads["payments"].CAs[0].ActiveFrom = time.Time{} }, "Workload CAs"},
	} {
		t.Run(name, func(t *testing.T) {
			got, _ := src.Load(context.Background())
			tc.change(got)
			err := migrate.Verify(want, got)
			if !errors.Is(err, migrate.ErrMismatch) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("Verify() = %v, want ErrMismatch naming %q", err, tc.msg)
			}
		})
	}
}

// failing is a real file store whose writes of one kind fail, as an API server that went away.
type failing struct {
	*store.File
	authority, eggs bool
}

func (f *failing) PutAuthority(ctx context.Context, a *store.Authority) error {
	if f.authority {
		return errors.New("connection refused")
	}
	return f.File.PutAuthority(ctx, a)
}

func (f *failing) PutEgg(ctx context.Context, e *store.Egg) error {
	if f.eggs {
		return errors.New("connection refused")
	}
	return f.File.PutEgg(ctx, e)
}

// TestFailedCopySaysWhatIsLeft: a write that fails stops the copy and says whether the
// destination holds part of the state.
func TestFailedCopySaysWhatIsLeft(t *testing.T) {
	for name, tc := range map[string]struct {
		dst  *failing
		want string
	}{
		"first write":   {&failing{authority: true}, "copying authority: connection refused (nothing was written)"},
		"a later write": {&failing{eggs: true}, "copying egg records: egg egg-0123456789abcdef0123: connection refused (the destination now holds part of the state"},
	} {
		t.Run(name, func(t *testing.T) {
			_, src := source(t)
			tc.dst.File = open(t, filepath.Join(t.TempDir(), "dst"))
			_, err := migrate.Migrate(context.Background(), src, tc.dst, migrate.Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Migrate() = %v, want %q", err, tc.want)
			}
		})
	}
}

// noImageKeys is a store that does not keep image keys (one without PutImageKey).
type noImageKeys struct{ store.Store }

func TestMigrateRefusesAStoreWithoutImageKeys(t *testing.T) {
	_, src := source(t)
	dstDir := filepath.Join(t.TempDir(), "dst")
	dst := open(t, dstDir)
	before := digest(t, dstDir)
	_, err := migrate.Migrate(context.Background(), src, noImageKeys{dst}, migrate.Options{})
	if err == nil || !strings.Contains(err.Error(), "does not keep image keys") || !strings.Contains(err.Error(), "nothing was written") {
		t.Fatalf("Migrate() = %v, want a refusal naming image keys and that nothing was written", err)
	}
	if digest(t, dstDir) != before {
		t.Error("the destination changed")
	}
}
