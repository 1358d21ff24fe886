package enroll_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seal-dev/seal/internal/enroll"
	"github.com/seal-dev/seal/internal/podfiles"
	"github.com/seal-dev/seal/internal/rot/rottest"
	"github.com/seal-dev/seal/internal/rotapi"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func mustCerts(t *testing.T, b []byte) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		t.Fatal("no certificates in PEM")
	}
	return out
}

// federate imports other's bundle into r, so r's workloads can federate with other.
func federate(t *testing.T, r, other *rottest.ROT) {
	t.Helper()
	var doc json.RawMessage
	if err := other.Admin.Do(t.Context(), http.MethodGet, rotapi.PathExport, nil, &doc); err != nil {
		t.Fatal(err)
	}
	in := rotapi.FederatedBundle{TrustDomain: other.TrustDomain, Bundle: string(doc)}
	if err := r.Admin.Do(t.Context(), http.MethodPost, rotapi.PathBundles, in, nil); err != nil {
		t.Fatal(err)
	}
}

func TestEnrollWritesIdentity(t *testing.T) {
	r := rottest.Start(t)
	other := rottest.Start(t, rottest.WithTrustDomain("other.example.org"))
	federate(t, r, other)
	r.CreateWorkload(t, rotapi.Workload{Name: "payments", Peers: []string{"api"},
		FederatesWith: []string{"other.example.org"}, RouteHosts: []string{"api.apps.example.com"}})
	eggText := r.MintEgg(t, "payments", rotapi.MintRequest{Peer: "api", Hostnames: []string{"api.apps.example.com"}})

	e, err := enroll.New(eggText+"\n", "test")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	e.Writer, e.Log, e.Hostnames = &podfiles.Writer{Dir: dir}, quiet(), []string{"api.apps.example.com"}
	id, err := e.Enroll(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	const wantID = "spiffe://test.seal.dev/workload/payments/peer/api"
	if id.SPIFFEID != wantID {
		t.Errorf("SPIFFE ID = %q, want %q", id.SPIFFEID, wantID)
	}
	files, err := podfiles.Read(dir, "tls.crt", "tls.key", "ca.crt", "keys.txt", "bundles/other.example.org.pem")
	if err != nil {
		t.Fatal(err)
	}
	chain := mustCerts(t, files["tls.crt"])
	roots := x509.NewCertPool()
	for _, c := range mustCerts(t, files["ca.crt"]) {
		roots.AddCert(c)
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, DNSName: "api", KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Errorf("tls.crt does not verify against ca.crt for DNS name api: %v", err)
	}
	if !slices.Contains(chain[0].DNSNames, "api.apps.example.com") {
		t.Errorf("DNS SANs = %q, want the route host api.apps.example.com", chain[0].DNSNames)
	}
	if len(chain[0].URIs) != 1 || chain[0].URIs[0].String() != wantID {
		t.Errorf("URI SANs = %v, want [%s]", chain[0].URIs, wantID)
	}
	if _, err := tlsPair(files["tls.crt"], files["tls.key"]); err != nil {
		t.Errorf("tls.crt and tls.key do not pair: %v", err)
	}
	fedRoots := mustCerts(t, files["bundles/other.example.org.pem"])
	if !bytes.Equal(fedRoots[0].Raw, mustCerts(t, other.CAPEM)[0].Raw) {
		t.Error("bundles/other.example.org.pem is not other.example.org's ROT CA")
	}
	if n := strings.Count(string(files["keys.txt"]), "AGE-SECRET-KEY-1"); n != 1 {
		t.Errorf("keys.txt holds %d age identities, want 1:\n%s", n, files["keys.txt"])
	}
}

// sharedClock is one manual clock for the ROT and seal-init; Sleep advances it.
type sharedClock struct {
	mu      sync.Mutex
	t       time.Time
	slept   []time.Duration
	onSleep func(n int) // called with the count of sleeps so far
}

func (c *sharedClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *sharedClock) Sleep(ctx context.Context, d time.Duration) error {
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

func TestWatchRenewsAtTwoThirds(t *testing.T) {
	clock := &sharedClock{t: time.Now().Truncate(time.Second)} // X.509 times have whole seconds
	r := rottest.Start(t, rottest.WithClock(clock.Now))
	r.CreateWorkload(t, rotapi.Workload{Name: "payments", CertTTL: "1m"})
	eggText := r.MintEgg(t, "payments", rotapi.MintRequest{})
	e, err := enroll.New(eggText, "test")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	e.Writer, e.Log, e.Now, e.Sleep = &podfiles.Writer{Dir: dir}, quiet(), clock.Now, clock.Sleep
	id, err := e.Enroll(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	var certs [][]byte
	clock.onSleep = func(n int) {
		b, err := os.ReadFile(filepath.Join(dir, "tls.crt"))
		if err != nil {
			t.Error(err)
		}
		certs = append(certs, b)
		if n == 4 {
			cancel()
		}
	}
	state := &enroll.State{Now: clock.Now}
	state.Set(id)
	if err := e.Watch(ctx, id, state, func() float64 { return 0 }); err != nil {
		t.Fatalf("Watch = %v, want nil after the context ends", err)
	}
	if want := []time.Duration{40 * time.Second, 40 * time.Second, 40 * time.Second, 40 * time.Second}; !slices.Equal(clock.slept, want) {
		t.Errorf("slept %v, want %v (2/3 of the 1m lifetime each time)", clock.slept, want)
	}
	for i := 1; i < len(certs); i++ {
		if bytes.Equal(certs[i], certs[i-1]) {
			t.Errorf("renewal %d did not change tls.crt", i)
		}
	}
	if !state.Ready() {
		t.Error("state not ready after renewals")
	}
}

func TestWatchStopsWhenEggRevoked(t *testing.T) {
	clock := &sharedClock{t: time.Now().Truncate(time.Second)} // X.509 times have whole seconds
	r := rottest.Start(t, rottest.WithClock(clock.Now))
	r.CreateWorkload(t, rotapi.Workload{Name: "payments", CertTTL: "1h"})
	info := r.MintEggInfo(t, "payments", rotapi.MintRequest{})
	e, err := enroll.New(info.Egg, "test")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	e.Writer, e.Log, e.Now, e.Sleep = &podfiles.Writer{Dir: dir}, quiet(), clock.Now, clock.Sleep
	id, err := e.Enroll(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, "tls.crt"))
	clock.onSleep = func(int) { r.RevokeEgg(t, info.ID) }
	err = e.Watch(t.Context(), id, nil, nil)
	var f *enroll.Failure
	if !errors.As(err, &f) || !strings.HasPrefix(err.Error(), "renewing the identity that expires at ") ||
		!strings.Contains(err.Error(), "refused the Egg (403 Forbidden: ") {
		t.Fatalf("Watch = %v, want a refusal failure", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "tls.crt"))
	if !bytes.Equal(before, after) {
		t.Error("a refused renewal changed tls.crt; the still-valid identity must stay")
	}
}

func TestEnrollWriteFailure(t *testing.T) {
	r := rottest.Start(t)
	r.CreateWorkload(t, rotapi.Workload{Name: "payments"})
	e, err := enroll.New(r.MintEgg(t, "payments", rotapi.MintRequest{}), "test")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	e.Writer, e.Log = &podfiles.Writer{Dir: file}, quiet()
	_, err = e.Enroll(t.Context())
	want := "cannot write the identity files into " + file + " (not a directory): check that --out is the pod's writable seal volume and --gid a group this container may use"
	if err == nil || err.Error() != want {
		t.Errorf("Enroll = %v\nwant %q", err, want)
	}
	if _, serr := os.Stat(file); errors.Is(serr, fs.ErrNotExist) {
		t.Error("the failed write removed the file in the way")
	}
}

// BenchmarkRedeem measures one redemption on loopback: key generation, CSR, TLS round trip to
// a real ROT (connection reused), signing, and the checks of the answer.
func BenchmarkRedeem(b *testing.B) {
	r := rottest.Start(b)
	r.CreateWorkload(b, rotapi.Workload{Name: "payments"})
	e, err := enroll.New(r.MintEgg(b, "payments", rotapi.MintRequest{}), "bench")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for b.Loop() {
		if _, err := e.RedeemOnce(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEnrollCold is what seal-init does in a pod: a new client (fresh TLS handshake), one
// redemption and the atomic write of the file set into a memory-backed directory (/dev/shm,
// like the pod's emptyDir medium Memory; a disk directory when there is none).
func BenchmarkEnrollCold(b *testing.B) {
	r := rottest.Start(b)
	r.CreateWorkload(b, rotapi.Workload{Name: "payments"})
	eggText := r.MintEgg(b, "payments", rotapi.MintRequest{})
	dir, err := os.MkdirTemp("/dev/shm", "seal-bench-")
	if err != nil {
		dir = b.TempDir()
	}
	b.Cleanup(func() { _ = os.RemoveAll(dir) })
	ctx := context.Background()
	for b.Loop() {
		e, err := enroll.New(eggText, "bench")
		if err != nil {
			b.Fatal(err)
		}
		e.Writer, e.Log = &podfiles.Writer{Dir: dir}, quiet()
		if _, err := e.Enroll(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

func tlsPair(crt, key []byte) (any, error) { return tls.X509KeyPair(crt, key) }
