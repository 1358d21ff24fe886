package main_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/jwtsvid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"

	"github.com/seal-dev/seal/internal/rot/rottest"
	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/testing/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.CleanupBinaries()
	os.Exit(code)
}

// startAgent runs the real seal-agent binary as the rotating sidecar with the Workload API.
func startAgent(t *testing.T, eggText, dir string) (socket string, stderr *testenv.LogBuffer) {
	t.Helper()
	socket = filepath.Join(dir, "agent.sock")
	stderr = &testenv.LogBuffer{}
	cmd := exec.Command(testenv.Binary(t, "./cmd/agent"), "--watch", "--out", dir, "--workload-api-socket", socket)
	cmd.Env = []string{"SEAL_EGG=" + eggText, "SEAL_TERMINATION_LOG=" + filepath.Join(t.TempDir(), "none")}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(socket); err == nil {
			return socket, stderr
		}
		select {
		case <-done:
			t.Fatalf("seal-agent exited; stderr:\n%s", stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("seal-agent made no socket; stderr:\n%s", stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWorkloadAPIWithGoSPIFFE runs go-spiffe's own Workload API client against a real seal-agent
// process redeeming at a ROT on loopback: the X.509-SVID, a renewal pushed to the open stream,
// a JWT-SVID minted by the ROT and validated through the socket.
func TestWorkloadAPIWithGoSPIFFE(t *testing.T) {
	// The ROT's clock runs 50s behind, so the shortest certTTL (1m) ends 10s from now and the
	// sidecar renews about every 6s.
	r := rottest.Start(t, rottest.WithClock(func() time.Time { return time.Now().Add(-50 * time.Second) }))
	r.CreateWorkload(t, rotapi.Workload{Name: "payments", Peers: []string{"api"}, CertTTL: "1m"})
	socket, stderr := startAgent(t, r.MintEgg(t, "payments", rotapi.MintRequest{Peer: "api"}), t.TempDir())
	addr := workloadapi.WithClientOptions(workloadapi.WithAddr("unix://" + socket))

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	src, err := workloadapi.NewX509Source(ctx, addr)
	if err != nil {
		t.Fatalf("NewX509Source: %v; seal-agent stderr:\n%s", err, stderr)
	}
	defer src.Close()
	svid, err := src.GetX509SVID()
	if err != nil {
		t.Fatal(err)
	}
	const want = "spiffe://test.seal.dev/workload/payments/peer/api"
	if svid.ID.String() != want {
		t.Errorf("X.509-SVID ID: got %s, want %s", svid.ID, want)
	}
	if _, err := src.GetX509BundleForTrustDomain(spiffeid.RequireTrustDomainFromString("test.seal.dev")); err != nil {
		t.Errorf("no X.509 bundle of the own trust domain: %v", err)
	}
	first := svid.Certificates[0].SerialNumber.String()
	for deadline := time.Now().Add(40 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		s, _ := src.GetX509SVID()
		if s.Certificates[0].SerialNumber.String() != first {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no renewal reached the X509Source within 40s; seal-agent stderr:\n%s", stderr)
		}
	}

	client, err := workloadapi.New(ctx, workloadapi.WithAddr("unix://"+socket))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	jwt, err := client.FetchJWTSVID(ctx, jwtsvid.Params{Audience: "db"})
	if err != nil {
		t.Fatalf("FetchJWTSVID: %v; seal-agent stderr:\n%s", err, stderr)
	}
	if jwt.ID.String() != want {
		t.Errorf("JWT-SVID sub: got %s, want %s", jwt.ID, want)
	}
	bundles, err := client.FetchJWTBundles(ctx)
	if err != nil {
		t.Fatalf("FetchJWTBundles: %v", err)
	}
	if _, err := jwtsvid.ParseAndValidate(jwt.Marshal(), bundles, []string{"db"}); err != nil {
		t.Errorf("the JWT-SVID does not validate against the JWT bundles from the socket: %v", err)
	}
	if got, err := client.ValidateJWTSVID(ctx, jwt.Marshal(), "db"); err != nil || got.ID.String() != want {
		t.Errorf("ValidateJWTSVID: %v, %v; want %s", got, err, want)
	}
	if _, err := client.ValidateJWTSVID(ctx, jwt.Marshal(), "someone-else"); err == nil {
		t.Error("ValidateJWTSVID accepted a token for another audience")
	}
}

// TestSealInitRefersToSealAgent: seal-init, which stays without gRPC, names seal-agent when asked
// for the Workload API.
func TestSealInitRefersToSealAgent(t *testing.T) {
	cmd := exec.Command(testenv.Binary(t, "./cmd/init"), "--watch", "--workload-api-socket", filepath.Join(t.TempDir(), "s"))
	cmd.Env = []string{"SEAL_EGG=x"}
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "run seal-agent") {
		t.Fatalf("seal-init --workload-api-socket: %v, %q; want a usage error naming seal-agent", err, out)
	}
}

// TestSPIREAgentCLI: SPIRE's own client, `spire-agent api fetch`, reads seal-agent's socket.
func TestSPIREAgentCLI(t *testing.T) {
	_, spireAgent := testenv.SPIRE(t)
	r := rottest.Start(t)
	r.CreateWorkload(t, rotapi.Workload{Name: "payments", Peers: []string{"api"}})
	socket, stderr := startAgent(t, r.MintEgg(t, "payments", rotapi.MintRequest{Peer: "api"}), t.TempDir())
	const id = "spiffe://test.seal.dev/workload/payments/peer/api"
	for _, tc := range []struct {
		args []string
		want string // what spire-agent prints of the SVID
	}{
		{[]string{"api", "fetch", "x509", "-socketPath", socket}, `(?m)^SPIFFE ID:\s+` + regexp.QuoteMeta(id) + `$`},
		{[]string{"api", "fetch", "jwt", "-audience", "db", "-socketPath", socket}, `(?m)^token\(` + regexp.QuoteMeta(id) + `\):\n\s+eyJ`},
	} {
		args := tc.args
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err := exec.CommandContext(ctx, spireAgent, args...).CombinedOutput()
		cancel()
		if err != nil || !regexp.MustCompile(tc.want).Match(out) {
			t.Errorf("spire-agent %s: %v\n%s\nseal-agent stderr:\n%s", strings.Join(args[:3], " "), err, out, stderr)
		}
	}
}
