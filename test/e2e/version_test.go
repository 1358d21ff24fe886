package e2e

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/testing/testenv"
)

// TestVersions builds the binaries the release way (make build VERSION=...) and checks that
// each reports that version with --version, that seal-rot serves it, and that `sealctl version`
// shows both its own and the ROT's.
func TestVersions(t *testing.T) {
	const want = "v9.8.7-e2e"
	bin := t.TempDir()
	cmd := exec.Command("make", "-s", "build", "VERSION="+want, "BIN="+bin)
	cmd.Dir = testenv.RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}
	for _, prog := range []string{"seal-rot", "seal-webhook", "seal-init", "seal-agent", "sealctl"} {
		out, err := exec.Command(filepath.Join(bin, prog), "--version").CombinedOutput()
		if err != nil || !strings.HasPrefix(string(out), prog+" "+want+" (go") {
			t.Errorf("%s --version: %q (%v), want %q", prog, out, err, prog+" "+want+" (go...)")
		}
	}

	// seal-rot on loopback, then sealctl version against it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	state := t.TempDir()
	rot := exec.Command(filepath.Join(bin, "seal-rot"), "serve", "--state-dir", state, "--listen", addr, "--trust-domain", "prod.example.org")
	var log testenv.LogBuffer
	rot.Stderr = &log
	if err := rot.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = rot.Process.Signal(syscall.SIGTERM)
		_ = rot.Wait()
	}()
	admin := filepath.Join(state, "admin")
	testenv.Eventually(t, 30*time.Second, func() error {
		caPEM, err := os.ReadFile(filepath.Join(admin, "ca.crt"))
		if err != nil {
			return err
		}
		c, err := rotapi.NewClient("https://"+addr, caPEM, nil)
		if err != nil {
			return err
		}
		defer c.HTTP.CloseIdleConnections()
		return c.Do(context.Background(), http.MethodGet, rotapi.PathReadyz, nil, nil)
	})
	out, err := exec.Command(filepath.Join(bin, "sealctl"), "version", "--rot", "https://"+addr, "--admin", admin, "-o", "json").Output()
	if err != nil {
		t.Fatalf("sealctl version: %v\n%s\nseal-rot log:\n%s", err, out, log.String())
	}
	var got struct{ Client, ROT string }
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("sealctl version -o json: %v\n%s", err, out)
	}
	if got.Client != want || got.ROT != want {
		t.Errorf("sealctl version = %+v, want client and rot %s", got, want)
	}
	table, err := exec.Command(filepath.Join(bin, "sealctl"), "version").Output()
	if err != nil || !strings.Contains(string(table), "sealctl:  "+want) || strings.Contains(string(table), "seal-rot") {
		t.Errorf("sealctl version without a ROT: %q (%v), want sealctl's version only", table, err)
	}
}
