package enroll

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/seal-dev/seal/internal/podfiles"
	"github.com/seal-dev/seal/internal/rot/rottest"
	"github.com/seal-dev/seal/internal/rotapi"
)

// stepClock is one manual clock for the ROT and seal-init; Sleep advances it, then runs
// onSleep with the number of sleeps so far.
type stepClock struct {
	mu      sync.Mutex
	t       time.Time
	slept   []time.Duration
	onSleep func(n int)
}

func (c *stepClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *stepClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.slept = append(c.slept, d)
	c.t = c.t.Add(d)
	n := len(c.slept)
	c.mu.Unlock()
	if c.onSleep != nil {
		c.onSleep(n)
	}
	return ctx.Err()
}

func putSecret(t *testing.T, r *rottest.ROT, name, value string, expires *time.Time) {
	t.Helper()
	if err := r.Admin.Do(t.Context(), http.MethodPut, rotapi.Path(rotapi.PathAdminSecret, "payments", name),
		rotapi.SecretPut{Value: []byte(value), ExpiresAfter: expires}, nil); err != nil {
		t.Fatal(err)
	}
}

// secretFile reads secrets/name through the current generation ("" when absent).
func secretFile(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, DirSecrets, name))
	if os.IsNotExist(err) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestWatchSecretsFollowsUpdatesExpiryAndOutage(t *testing.T) {
	clock := &stepClock{t: time.Now().Truncate(time.Second)}
	r := rottest.Start(t, rottest.WithClock(clock.Now))
	r.CreateWorkload(t, rotapi.Workload{Name: "payments"})
	exp := clock.Now().Add(45 * time.Second)
	putSecret(t, r, "db-password", "v1", nil)
	putSecret(t, r, "session", "s1", &exp)

	e, err := New(r.MintEgg(t, "payments", rotapi.MintRequest{}), "test")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	e.Writer, e.Now, e.Sleep = &podfiles.Writer{Dir: dir}, clock.Now, clock.Sleep
	e.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	e.Secrets, e.SecretsInterval = true, 30*time.Second
	if _, err := e.Enroll(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := secretFile(t, dir, "db-password"); got != "v1" {
		t.Fatalf("after Enroll secrets/db-password = %q, want v1", got)
	}
	if fi, err := os.Stat(filepath.Join(dir, DirSecrets, "db-password")); err != nil || fi.Mode().Perm() != 0o400 {
		t.Errorf("secrets/db-password mode: %v, %v; want 0400", fi, err)
	}
	putSecret(t, r, "db-password", "v2", nil)

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	clock.onSleep = func(n int) {
		switch n {
		case 2: // one interval after the update
			if got := secretFile(t, dir, "db-password"); got != "v2" {
				t.Errorf("one interval after the update, db-password = %q, want v2", got)
			}
		case 3: // session expired at 45s, polled at 60s
			if got := secretFile(t, dir, "session"); got != "" {
				t.Errorf("after its expiry, secrets/session = %q, want removed", got)
			}
			if _, err := podfiles.Read(dir, FileCert, FileKey, DirSecrets+"/db-password"); err != nil {
				t.Errorf("the file set is incomplete: %v", err)
			}
			e.sec.base, e.sec.client = "https://127.0.0.1:1", nil // the ROT goes away
		case 4:
			if got := secretFile(t, dir, "db-password"); got != "v2" {
				t.Errorf("during a ROT outage, db-password = %q, want the last good v2", got)
			}
			cancel()
		}
	}
	e.WatchSecrets(ctx, func() float64 { return 0 })
	if want := []time.Duration{30 * time.Second, 30 * time.Second, 30 * time.Second, 30 * time.Second}; !slices.Equal(clock.slept, want) {
		t.Errorf("slept %v, want the 30s interval each time", clock.slept)
	}
}

func TestSecretsOff(t *testing.T) {
	r := rottest.Start(t)
	r.CreateWorkload(t, rotapi.Workload{Name: "payments"})
	putSecret(t, r, "db-password", "v1", nil)
	e, err := New(r.MintEgg(t, "payments", rotapi.MintRequest{}), "test")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	e.Writer, e.Log = &podfiles.Writer{Dir: dir}, slog.New(slog.NewTextHandler(io.Discard, nil))
	if _, err := e.Enroll(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(dir, DirSecrets)); !os.IsNotExist(err) {
		t.Errorf("with Secrets off, %s exists (%v)", DirSecrets, err)
	}
}

func TestSecretsJitter(t *testing.T) {
	clock := &stepClock{t: time.Now()}
	e := &Enroller{Sleep: clock.Sleep, SecretsInterval: 30 * time.Second}
	ctx, cancel := context.WithCancel(t.Context())
	clock.onSleep = func(n int) {
		if n == 3 {
			cancel()
		}
	}
	js := []float64{0, 0.5, 0.999}
	e.WatchSecrets(ctx, func() float64 { j := js[0]; js = js[1:]; return j })
	for i, want := range []time.Duration{30 * time.Second, 27 * time.Second, 24 * time.Second} {
		if d := clock.slept[i]; d < want-10*time.Millisecond || d > want+10*time.Millisecond {
			t.Errorf("sleep %d = %s, want about %s (interval less up to a fifth)", i, d, want)
		}
	}
}
