package enroll_test

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/seal-dev/seal/internal/enroll"
	"github.com/seal-dev/seal/internal/podfiles"
	"github.com/seal-dev/seal/internal/podtoken/podtokentest"
	"github.com/seal-dev/seal/internal/rot/rottest"
	"github.com/seal-dev/seal/internal/rotapi"
)

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// boundROT is a ROT with cluster prod and workload payments bound to prod/payments/api.
func boundROT(t *testing.T, clk *testClock) (*rottest.ROT, *podtokentest.Issuer, string) {
	t.Helper()
	r := rottest.Start(t, rottest.WithClock(clk.Now))
	iss := podtokentest.New(t, "https://kubernetes.default.svc", jose.ES256)
	if err := r.Admin.Do(t.Context(), http.MethodPut, rotapi.Path(rotapi.PathCluster, "prod"), rotapi.Cluster{Issuer: iss.URL, JWKS: iss.JWKS(t)}, nil); err != nil {
		t.Fatal(err)
	}
	r.CreateWorkload(t, rotapi.Workload{Name: "payments", Bindings: []rotapi.Binding{{Cluster: "prod", Namespace: "payments", ServiceAccount: "api"}}})
	return r, iss, r.MintEgg(t, "payments", rotapi.MintRequest{})
}

// TestTokenReadAtEveryRenewal: the token file is read afresh for each redemption, so a sidecar
// renewing after its first token expired sends the kubelet's new one.
func TestTokenReadAtEveryRenewal(t *testing.T) {
	clk := &testClock{t: time.Now()}
	_, iss, eggText := boundROT(t, clk)
	tokenFile := filepath.Join(t.TempDir(), "token")
	write := func(tok string) {
		if err := os.WriteFile(tokenFile, []byte(tok), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(iss.Token(t, clk.Now(), "payments", "api", "api-0"))
	e, err := enroll.New(eggText, "test")
	if err != nil {
		t.Fatal(err)
	}
	e.Writer, e.Log, e.TokenFile, e.Now = &podfiles.Writer{Dir: t.TempDir()}, quiet(), tokenFile, clk.Now
	if _, err := e.Enroll(t.Context()); err != nil {
		t.Fatalf("first redemption with the token: %v", err)
	}
	clk.Advance(11 * time.Minute) // the first token (9 minutes) has expired
	if _, err := e.RedeemOnce(t.Context()); err == nil || !strings.Contains(err.Error(), "token expired") {
		t.Fatalf("renewal with the expired token: %v, want refused as expired", err)
	}
	write(iss.Token(t, clk.Now(), "payments", "api", "api-0")) // the kubelet rotated it
	if _, err := e.RedeemOnce(t.Context()); err != nil {
		t.Errorf("renewal after the kubelet rotated the token: %v", err)
	}
}

// TestSealInitNamesTheBinding runs seal-init's Main for a bound workload: without a token, and
// with a token of another namespace. Both fail at once, with a line naming the binding.
func TestSealInitNamesTheBinding(t *testing.T) {
	clk := &testClock{t: time.Now()}
	_, iss, eggText := boundROT(t, clk)
	other := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(other, []byte(iss.Token(t, clk.Now(), "default", "api", "web-1")), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"no token", nil, []string{"wants this pod's ServiceAccount token", "bound to prod/payments/api", "--token-file"}},
		{"another namespace", []string{"--token-file", other}, []string{"refused this pod's ServiceAccount token (403", "pod web-1 runs as prod/default/api", "sealctl workload bind"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			env := map[string]string{"SEAL_EGG": eggText}
			args := append([]string{"--out", t.TempDir(), "--timeout", "5s", "--termination-log", ""}, tc.args...)
			code := enroll.Main(t.Context(), args, func(k string) string { return env[k] }, &stderr)
			if code != enroll.ExitFailure {
				t.Fatalf("exit %d, want %d; stderr %s", code, enroll.ExitFailure, stderr.String())
			}
			last := strings.TrimSpace(stderr.String())
			last = last[strings.LastIndex(last, "\n")+1:]
			for _, w := range tc.want {
				if !strings.Contains(last, w) {
					t.Errorf("seal-init's message %q lacks %q", last, w)
				}
			}
		})
	}
}
