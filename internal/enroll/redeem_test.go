package enroll

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seal-dev/seal/internal/egg"
)

// fakeClock is a manual clock whose Sleep advances time and records the waits.
type fakeClock struct {
	mu     sync.Mutex
	t      time.Time
	slept  []time.Duration
	cancel func() // when set, called on the first Sleep (a signal arriving)
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.slept = append(c.slept, d)
	c.t = c.t.Add(d)
	cancel := c.cancel
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	return ctx.Err()
}

// testEgg mints an Egg pointing at rot and trusting caPEM, sealed under a throwaway key.
func testEgg(t *testing.T, rot string, caPEM []byte) string {
	t.Helper()
	key, err := egg.NewKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	kr := &egg.Keyring{Current: "k1", Keys: map[string][]byte{"k1": key}}
	o, err := egg.Seal(kr, rot, string(caPEM), "test.seal.dev", egg.Claims{ID: "e1", Workload: "payments", Peer: "api", NotAfter: time.Now().Add(time.Hour)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return o.String()
}

// answers is a TLS server that answers the i-th request (1-based) with status(i) and body.
func answers(t *testing.T, status func(i int64) (int, string)) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, body := status(n.Add(1))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func serverCA(srv *httptest.Server) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
}

// selfSignedPEM returns a fresh self-signed CA certificate nothing else trusts.
func selfSignedPEM(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "other CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func newTestEnroller(t *testing.T, rot string, caPEM []byte, clock *fakeClock) *Enroller {
	t.Helper()
	e, err := New(testEgg(t, rot, caPEM), "test")
	if err != nil {
		t.Fatal(err)
	}
	e.Now, e.Sleep = clock.Now, clock.Sleep
	e.Backoff = Backoff{Rand: func() float64 { return 0 }}
	e.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	t.Cleanup(e.client.HTTP.CloseIdleConnections)
	return e
}

func TestRedeemRetriesThenStopsOnRefusal(t *testing.T) {
	srv, n := answers(t, func(i int64) (int, string) {
		if i <= 3 {
			return http.StatusServiceUnavailable, `{"error":"starting"}`
		}
		return http.StatusForbidden, `{"error":"redeem: egg e1 is revoked"}`
	})
	clock := &fakeClock{t: time.Unix(1e9, 0)}
	e := newTestEnroller(t, srv.URL, serverCA(srv), clock)
	_, err := e.Redeem(t.Context(), clock.Now().Add(2*time.Minute))
	var f *Failure
	if !errors.As(err, &f) {
		t.Fatalf("Redeem = %v, want a *Failure", err)
	}
	want := "the ROT at " + srv.URL + " refused the Egg (403 Forbidden: redeem: egg e1 is revoked): " +
		"the Egg is expired, revoked or from another ROT; mint a new one with `sealctl egg mint WORKLOAD --peer PEER`"
	if got := err.Error(); got != want {
		t.Errorf("message\n got %q\nwant %q", got, want)
	}
	if got := n.Load(); got != 4 {
		t.Errorf("%d requests, want 4 (three 503s retried, the 403 not)", got)
	}
	wantSlept := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second}
	if len(clock.slept) != len(wantSlept) {
		t.Fatalf("slept %v, want %v", clock.slept, wantSlept)
	}
	for i := range wantSlept {
		if clock.slept[i] != wantSlept[i] {
			t.Errorf("slept %v, want %v", clock.slept, wantSlept)
			break
		}
	}
}

func TestRedeemFailures(t *testing.T) {
	otherCA := selfSignedPEM(t)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "https://" + closed.Addr().String()
	closed.Close()

	for _, tc := range []struct {
		name         string
		code         int
		body         string
		unreachable  bool
		wrongCA      bool
		wantRequests int64
		want         string // the message, with {rot} standing for the ROT URL
	}{
		{name: "5xx until the timeout", code: 503, body: `{"error":"down"}`, wantRequests: 6,
			want: "the ROT at {rot} kept failing for 5s (6 attempts, last: 503 Service Unavailable: down): check the seal-rot logs and readiness"},
		{name: "429 is retried", code: 429, body: `{"error":"slow down"}`, wantRequests: 6,
			want: "the ROT at {rot} kept failing for 5s (6 attempts, last: 429 Too Many Requests: slow down): check the seal-rot logs and readiness"},
		{name: "unreachable until the timeout", unreachable: true,
			want: "the ROT at {rot} was not reachable for 5s (6 attempts, last: connection refused): check that seal-rot is running and reachable from this pod at the Egg's rot URL, or raise --timeout"},
		{name: "400 at once, folded onto one line", code: 400, body: `{"error":"redeem: bad\ncsr"}`, wantRequests: 1,
			want: "the ROT at {rot} rejected the request (400 Bad Request: redeem: bad csr): check --hostname and --federates-with against the Workload's routeHosts and federatesWith, and the Egg"},
		{name: "404 at once", code: 404, body: `{"error":"redeem: workload \"payments\" does not exist"}`, wantRequests: 1,
			want: "the ROT at {rot} does not know this Egg's workload (404 Not Found: redeem: workload \"payments\" does not exist): check `sealctl workload list`, then mint a new Egg with `sealctl egg mint WORKLOAD --peer PEER`"},
		{name: "ROT not trusted by the Egg", wrongCA: true, code: 200, body: `{}`,
			want: "the ROT at {rot} is not the one the Egg trusts (x509: certificate signed by unknown authority): the Egg's rotCA does not match the ROT's serving certificate; mint a new Egg from this ROT or check seal-rot --external-url"},
		{name: "unusable answer", code: 200, body: `{"certificate":"junk"}`, wantRequests: 1,
			want: "the ROT at {rot} answered with something unusable (certificate: empty): check the seal-rot version and logs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, n := answers(t, func(int64) (int, string) { return tc.code, tc.body })
			url, ca := srv.URL, serverCA(srv)
			switch {
			case tc.unreachable:
				url = closedURL
			case tc.wrongCA:
				ca = otherCA
			}
			clock := &fakeClock{t: time.Unix(1e9, 0)}
			e := newTestEnroller(t, url, ca, clock)
			_, err := e.Redeem(t.Context(), clock.Now().Add(5*time.Second))
			if err == nil {
				t.Fatal("Redeem succeeded")
			}
			want := strings.ReplaceAll(tc.want, "{rot}", url)
			if got := err.Error(); got != want {
				t.Errorf("message\n got %q\nwant %q", got, want)
			}
			if !tc.unreachable && !tc.wrongCA && n.Load() != tc.wantRequests {
				t.Errorf("%d requests, want %d", n.Load(), tc.wantRequests)
			}
		})
	}
}

func TestRedeemStopsOnSignal(t *testing.T) {
	srv, _ := answers(t, func(int64) (int, string) { return 503, `{"error":"down"}` })
	ctx, cancel := context.WithCancel(t.Context())
	clock := &fakeClock{t: time.Unix(1e9, 0), cancel: cancel}
	e := newTestEnroller(t, srv.URL, serverCA(srv), clock)
	_, err := e.Redeem(ctx, clock.Now().Add(time.Minute))
	want := "stopped while waiting for the ROT at " + srv.URL + " (1 attempts, last: 503 Service Unavailable: down): the container was told to stop"
	if err == nil || err.Error() != want {
		t.Errorf("Redeem = %v, want %q", err, want)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Redeem error does not wrap context.Canceled")
	}
}

func TestNewBadEgg(t *testing.T) {
	for _, tc := range []struct{ name, text, want string }{
		{"not an egg", "hello", `the Egg from test is not a Seal Egg (egg: malformed: does not start with "seal-egg-v1."): it must hold the output of ` + "`sealctl egg mint`, whole and unchanged"},
		{"bad base64", "seal-egg-v1.!!!", `the Egg from test is not a Seal Egg (egg: malformed: bad base64url: illegal base64 data at input byte 0): it must hold the output of ` + "`sealctl egg mint`, whole and unchanged"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.text, "test")
			if err == nil || err.Error() != tc.want {
				t.Errorf("New = %v\nwant %q", err, tc.want)
			}
		})
	}
}
