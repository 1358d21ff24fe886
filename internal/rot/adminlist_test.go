package rot_test

import (
	"crypto/tls"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seal-dev/seal/internal/ca"
	"github.com/seal-dev/seal/internal/rot"
	"github.com/seal-dev/seal/internal/rot/rottest"
	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/store"
)

// movingClock is a clock tests move forward.
type movingClock struct {
	mu sync.Mutex
	t  time.Time
}

// newClock starts in the past, so that moving it forward keeps certificates valid for the
// real clock TLS clients check them with.
func newClock() *movingClock { return &movingClock{t: time.Now().Add(-6 * time.Hour)} }

func (c *movingClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *movingClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// adminROT runs a ROT on a file store the test can also change (as seal-rot admin-cert
// --kube does beside a running ROT), and reloads the ROT after each change.
type adminROT struct {
	*rottest.ROT
	st    *store.File
	clock *movingClock
}

func startAdminROT(t *testing.T) *adminROT {
	t.Helper()
	st, err := store.OpenFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	clock := newClock()
	r := rottest.Start(t, rottest.WithStore(st), rottest.WithClock(clock.Now))
	return &adminROT{ROT: r, st: st, clock: clock}
}

// change runs seal-rot admin-cert's operation and reloads the ROT. It returns the admin
// directory of new credentials ("" for a revocation).
func (a *adminROT) change(t *testing.T, ch rot.AdminChange) (string, *rot.AdminResult, error) {
	t.Helper()
	dir := t.TempDir()
	res, err := rot.ChangeAdmins(ctx(t), a.st, a.clock.Now, ch, rot.WriteAdminDir(dir))
	if err != nil {
		return "", nil, err
	}
	if err := a.Server.Reload(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if res.Creds == nil {
		dir = ""
	}
	return dir, res, nil
}

func (a *adminROT) adminClient(t *testing.T, dir string) *rotapi.Client {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, rot.AdminCertFile), filepath.Join(dir, rot.AdminKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, rot.AdminCAFile))
	if err != nil {
		t.Fatal(err)
	}
	c, err := rotapi.NewClient(a.URL, caPEM, &cert)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.HTTP.CloseIdleConnections)
	return c
}

func serialOf(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, rot.AdminCertFile))
	if err != nil {
		t.Fatal(err)
	}
	certs, err := ca.ParseCerts(b)
	if err != nil {
		t.Fatal(err)
	}
	return rot.SerialHex(certs[0])
}

// wantAdmin checks whether c is let into the admin API.
func wantAdmin(t *testing.T, name string, c *rotapi.Client, allowed bool) {
	t.Helper()
	err := c.Do(ctx(t), http.MethodGet, rotapi.PathWorkloads, nil, nil)
	switch {
	case allowed && err != nil:
		t.Errorf("%s: refused: %v", name, err)
	case !allowed && statusOf(err) != http.StatusForbidden:
		t.Errorf("%s: got %v, want 403", name, err)
	case !allowed && !strings.Contains(err.Error(), "allow-list"):
		t.Errorf("%s: error %q does not name the allow-list", name, err)
	}
}

func TestAdminAllowList(t *testing.T) {
	a := startAdminROT(t)
	first := a.adminClient(t, a.AdminDir)
	wantAdmin(t, "first-start admin", first, true)
	firstSerial := serialOf(t, a.AdminDir)

	second, res, err := a.change(t, rot.AdminChange{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Admins) != 2 || res.Seeded != "" {
		t.Errorf("after issuing a second admin: list %+v seeded %q, want 2 entries, nothing seeded", res.Admins, res.Seeded)
	}
	secondC := a.adminClient(t, second)
	wantAdmin(t, "first admin beside a second", first, true)
	wantAdmin(t, "second admin", secondC, true)

	// Revoke the first by serial in openssl's colon form.
	colon := strings.ToUpper(firstSerial[:2]) + ":" + firstSerial[2:]
	if _, _, err := a.change(t, rot.AdminChange{Revoke: colon}); err != nil {
		t.Fatal(err)
	}
	wantAdmin(t, "revoked first admin", first, false)
	wantAdmin(t, "second admin after revoking the first", secondC, true)

	if _, _, err := a.change(t, rot.AdminChange{Revoke: firstSerial}); !errors.Is(err, rot.ErrAdminNotListed) {
		t.Errorf("revoking an unlisted serial: %v, want ErrAdminNotListed", err)
	}
	if _, _, err := a.change(t, rot.AdminChange{Revoke: serialOf(t, second)}); !errors.Is(err, rot.ErrLastAdmin) {
		t.Errorf("revoking the last admin: %v, want ErrLastAdmin", err)
	}
	if _, _, err := a.change(t, rot.AdminChange{Revoke: "not-hex"}); err == nil || !strings.Contains(err.Error(), "hexadecimal") {
		t.Errorf("revoking a malformed serial: %v", err)
	}

	third, res, err := a.change(t, rot.AdminChange{RevokeAllButNew: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Admins) != 1 || res.Admins[0].Serial != serialOf(t, third) {
		t.Errorf("after --revoke-all-but-new: %+v, want only %s", res.Admins, serialOf(t, third))
	}
	wantAdmin(t, "second admin after revoke-all-but-new", secondC, false)
	wantAdmin(t, "new admin", a.adminClient(t, third), true)

	// A restart keeps the list (it is state, not memory).
	st, err := a.st.Load(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Authority.Admins; len(got) != 1 || got[0].Serial != serialOf(t, third) {
		t.Errorf("stored allow-list %+v", got)
	}
}

// TestAdminAllowListUpgrade: state written before the allow-list existed keeps accepting its
// first-start admin; the first admin-cert lists it, --revoke-all-but-new ends it.
func TestAdminAllowListUpgrade(t *testing.T) {
	a := startAdminROT(t)
	st, err := a.st.Load(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	old := *st.Authority
	old.Admins = nil // what an older seal-rot wrote
	if err := a.st.PutAuthority(ctx(t), &old); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(filepath.Join(a.st.Dir(), "authority.json"))
	if strings.Contains(string(raw), "admins") {
		t.Fatalf("legacy authority.json still has an admins key:\n%s", raw)
	}
	if err := a.Server.Reload(ctx(t)); err != nil {
		t.Fatal(err)
	}
	first := a.adminClient(t, a.AdminDir)
	wantAdmin(t, "first-start admin on legacy state", first, true)
	if _, legacy, err := rot.ListAdmins(ctx(t), a.st); err != nil || !legacy {
		t.Errorf("ListAdmins on legacy state: legacy=%v err=%v", legacy, err)
	}

	legacyPEM, _ := os.ReadFile(filepath.Join(a.AdminDir, rot.AdminCertFile))
	second, res, err := a.change(t, rot.AdminChange{Legacy: legacyPEM})
	if err != nil {
		t.Fatal(err)
	}
	if res.Seeded != serialOf(t, a.AdminDir) || len(res.Admins) != 2 {
		t.Errorf("first admin-cert on legacy state: seeded %q list %+v, want the first-start cert listed", res.Seeded, res.Admins)
	}
	wantAdmin(t, "first-start admin after the upgrade", first, true)
	wantAdmin(t, "new admin after the upgrade", a.adminClient(t, second), true)

	if _, _, err := a.change(t, rot.AdminChange{RevokeAllButNew: true, Legacy: legacyPEM}); err != nil {
		t.Fatal(err)
	}
	wantAdmin(t, "first-start admin after revoke-all-but-new", first, false)
}

// FuzzParseSerial: whatever an operator pastes, ParseSerial either refuses it or returns the
// canonical form, which parses to itself.
func FuzzParseSerial(f *testing.F) {
	for _, s := range []string{"4f3a9c", "0x4F3A9C", "4F:3A:9C", "00ff", "", "0", "-1", "zz", " ab ", strings.Repeat("f", 65)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := rot.ParseSerial(in)
		if err != nil {
			return
		}
		if got == "" || got != strings.ToLower(got) || strings.HasPrefix(got, "0") {
			t.Fatalf("ParseSerial(%q) = %q: not canonical", in, got)
		}
		if again, err := rot.ParseSerial(got); err != nil || again != got {
			t.Fatalf("ParseSerial(%q) = %q, %v; want itself", got, again, err)
		}
	})
}
