package store_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/seal-dev/seal/internal/store"
)

// releaseState copies the state directory that the v0.1.0 release's real seal-rot and sealctl
// wrote (testdata/state-v0.1.0: a workload with two data keys, two Eggs of which one revoked, a
// federated bundle) into a temporary directory, so the test may take the store's lock.
func releaseState(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	src := filepath.Join("testdata", "state-v0.1.0")
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestReadsReleaseState is the format-stability check: state written by the current release
// must load unchanged, whatever the Go types behind it become.
func TestReadsReleaseState(t *testing.T) {
	f, err := store.OpenFile(releaseState(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Load(context.Background())
	if err != nil {
		t.Fatalf("Load of the release's state: %v", err)
	}
	a := st.Authority
	if a == nil || a.TrustDomain != "format.example.org" || len(a.CAs) != 1 || a.EggKeys.Current == "" {
		t.Fatalf("authority = %+v, want trust domain format.example.org, 1 CA and an egg key", a)
	}
	w := st.Workloads["payments"]
	if w == nil {
		t.Fatalf("workloads = %v, want payments", st.Workloads)
	}
	if w.Spec.Name != "payments" || !slices.Equal(w.Spec.Peers, []string{"api", "db"}) || w.Spec.CertTTL != "1h" ||
		!slices.Equal(w.Spec.FederatesWith, []string{"partner.example.org"}) || !slices.Equal(w.Spec.RouteHosts, []string{"api.apps.example.org"}) {
		t.Errorf("payments spec = %+v", w.Spec)
	}
	if len(w.CAs) != 1 || len(w.DataKeys) != 2 || w.DataKeys[0].Index != 0 || w.DataKeys[1].Index != 1 {
		t.Errorf("payments: %d CAs, data keys %+v; want 1 CA and data keys 0 and 1", len(w.CAs), w.DataKeys)
	}
	api, db := st.Eggs["egg-740c523d9965ca327f2a"], st.Eggs["egg-62f3507f927692370d9c"]
	if api == nil || api.Workload != "payments" || api.Peer != "api" || api.Revoked || api.NotAfter.IsZero() {
		t.Errorf("egg of peer api = %+v, want a live record", api)
	}
	if db == nil || db.Peer != "db" || !db.Revoked {
		t.Errorf("egg of peer db = %+v, want a revoked record", db)
	}
	if b := st.Bundles["partner.example.org"]; b == nil {
		t.Errorf("bundles = %v, want partner.example.org", st.Bundles)
	}
}
