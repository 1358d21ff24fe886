package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/seal-dev/seal/internal/store"
	"github.com/seal-dev/seal/internal/store/storetest"
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

// TestReleaseSpecFieldsAreDroppedOnWrite: the release wrote the admin API's derived
// dataKeyIndex into the workload spec. It loads (above), and the next write of the record
// leaves it out, so the state holds only what the store owns.
func TestReleaseSpecFieldsAreDroppedOnWrite(t *testing.T) {
	dir := releaseState(t)
	f, err := store.OpenFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "workloads", "payments.json")
	if b, _ := os.ReadFile(path); !strings.Contains(string(b), `"dataKeyIndex"`) {
		t.Fatalf("release file %s has no dataKeyIndex; the test no longer covers the legacy field", path)
	}
	if err := f.PutWorkload(context.Background(), st.Workloads["payments"]); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"dataKeyIndex"`, `"caFingerprint"`} {
		if strings.Contains(string(b), field) {
			t.Errorf("rewritten %s holds %s:\n%s", path, field, b)
		}
	}
	if !strings.Contains(string(b), `"created": "2026-11-29T16:20:09.420213656Z"`) {
		t.Errorf("rewritten %s lost the spec's created time:\n%s", path, b)
	}
}

// TestSpecDecodesStrictly: accepting the release's legacy spec fields does not make the spec
// accept anything else; a field the store does not know is still corrupt state.
func TestSpecDecodesStrictly(t *testing.T) {
	for name, spec := range map[string]string{
		"legacy fields": `{"name":"w","dataKeyIndex":3,"caFingerprint":"ab:cd"}`,
		"unknown field": `{"name":"w","owner":"mallory"}`,
		"wrong type":    `{"name":"w","peers":"api"}`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			f, err := store.OpenFile(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := f.PutAuthority(context.Background(), storetest.Authority()); err != nil {
				t.Fatal(err)
			}
			rec := `{"spec":` + spec + `,"cas":[{"cert":"C","key":"K"}],"dataKeys":[]}`
			if err := os.MkdirAll(filepath.Join(dir, "workloads"), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "workloads", "w.json"), []byte(rec), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err = f.Load(context.Background())
			if wantOK := name == "legacy fields"; (err == nil) != wantOK {
				t.Errorf("Load of spec %s: err = %v, want ok = %v", spec, err, wantOK)
			}
			if err != nil && !errors.Is(err, store.ErrCorrupt) {
				t.Errorf("Load of spec %s: err = %v, want ErrCorrupt", spec, err)
			}
		})
	}
}
