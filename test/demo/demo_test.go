package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seal-dev/seal/internal/testing/testenv"
)

// TestDemo runs `make demo` with the real binaries and checks that the story a user reads
// happened: every summary line is printed, the unsigned image was refused with its reason, and
// the intruder was refused. Where a real node can run (root, containerd, the kubelet: as under
// make test here), it checks the pods ran on it and completed mTLS, from their container logs;
// elsewhere, that the demo says why it could not.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the real control plane; run without -short (make test)")
	}
	bin := t.TempDir()
	for _, b := range []struct{ pkg, name string }{{"./cmd/rot", "seal-rot"}, {"./cmd/webhook", "seal-webhook"}, {"./cmd/init", "seal-init"}, {"./cmd/agent", "seal-agent"}, {"./cmd/sealctl", "sealctl"}} {
		link(t, testenv.Binary(t, b.pkg), bin, b.name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := Run(ctx, Options{Out: &out, BinDir: bin, Dir: t.TempDir()}); err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out.String())
	}
	got := out.String()
	wants := []string{
		"seal-webhook injected seal-init",
		"an unsigned image was refused at apply time",
		"the two pods completed mTLS",
		"a certificate of another workload was refused",
		"the payments server refuses it: remote error: tls:",
		"team/unsigned",
		"spiffe://" + TrustDomain + "/workload/payments/peer/api",
	}
	if err := testenv.NodeRequirements(); err == nil {
		wants = append(wants,
			NodeAvailable,
			"init container seal-init exited 0 (Completed)",
			`msg="wrote identity"`,
			`msg="authorized peer" peer=spiffe://`+TrustDomain+"/workload/payments/peer/web",
			`msg="mTLS call succeeded" server=spiffe://`+TrustDomain+"/workload/payments/peer/api",
			"on a real kubelet, the injected seal-init init container redeemed the Egg",
		)
	} else {
		wants = append(wants, NoNode+strings.TrimPrefix(err.Error(), "testenv: ")+"; seal-init ran as a process above")
	}
	for _, want := range wants {
		if !strings.Contains(got, want) {
			t.Errorf("the demo's output lacks %q:\n%s", want, got)
		}
	}
}

func link(t *testing.T, src, dir, name string) {
	t.Helper()
	if err := os.Symlink(src, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}
