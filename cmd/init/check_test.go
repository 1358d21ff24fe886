package main_test

import (
	"crypto/tls"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seal-dev/seal/internal/podfiles"
	"github.com/seal-dev/seal/internal/rot/rottest"
	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/testing/testenv"
)

// TestCheckProbe runs `seal-init check` the way the kubelet runs the native sidecar's exec
// probe: it fails before seal-init has written the files, passes once a real ROT's identity is
// there, and fails again, naming the expiry, once the certificate has expired.
func TestCheckProbe(t *testing.T) {
	bin := testenv.Binary(t, "./cmd/init")
	// The ROT's clock runs 55s behind, so its shortest certTTL (1m) ends about 5s from now.
	r := rottest.Start(t, rottest.WithClock(func() time.Time { return time.Now().Add(-55 * time.Second) }))
	r.CreateWorkload(t, rotapi.Workload{Name: "payments", Peers: []string{"api"}, CertTTL: "1m"})
	eggText := r.MintEgg(t, "payments", rotapi.MintRequest{Peer: "api"})
	out := filepath.Join(t.TempDir(), "seal")

	code, stderr := run(t, nil, bin, "check", out)
	if code != 1 || !strings.Contains(stderr, "seal-init: check: no identity files in "+out) || len(lines(stderr)) != 1 {
		t.Errorf("check before seal-init ran: exit %d, stderr %q; want 1 and one line saying there are no files yet", code, stderr)
	}

	if code, stderr := run(t, []string{"SEAL_EGG=" + eggText}, bin, "--out", out); code != 0 {
		t.Fatalf("seal-init exit %d; stderr:\n%s", code, stderr)
	}
	files, err := podfiles.Read(out, "tls.crt", "tls.key")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(files["tls.crt"], files["tls.key"])
	if err != nil {
		t.Fatal(err)
	}
	// SEAL_OUT gives the directory, as in a container whose env sets it.
	code, stderr = run(t, []string{"SEAL_OUT=" + out}, bin, "check")
	if code != 0 || !strings.Contains(stderr, out+" holds "+apiID) {
		t.Errorf("check of a fresh identity: exit %d, stderr %q; want 0 naming %s", code, stderr, apiID)
	}

	time.Sleep(time.Until(pair.Leaf.NotAfter) + 100*time.Millisecond)
	code, stderr = run(t, nil, bin, "check", "--out", out)
	want := "expired at " + pair.Leaf.NotAfter.UTC().Format(time.RFC3339)
	if code != 1 || !strings.Contains(stderr, want) || len(lines(stderr)) != 1 {
		t.Errorf("check after expiry: exit %d, stderr %q; want 1 and one line containing %q", code, stderr, want)
	}
}
