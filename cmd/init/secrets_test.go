package main_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seal-dev/seal/internal/testing/testenv"
)

// TestWatchDeliversSecrets runs the real seal-rot and a real seal-init --watch with a short
// --secrets-interval: a value changed with the real sealctl and a secret that expires show in
// the pod's files within two intervals, and a ROT outage keeps the last good secrets.
func TestWatchDeliversSecrets(t *testing.T) {
	initBin := testenv.Binary(t, "./cmd/init")
	rotBin := testenv.Binary(t, "./cmd/rot")
	state := filepath.Join(t.TempDir(), "state")
	adminDir := filepath.Join(state, "admin")
	addr := freeAddr(t)
	rotURL := "https://" + addr
	rotArgs := []string{"serve", "--state-dir", state, "--listen", addr, "--trust-domain", "secrets.seal.dev"}
	rotProc := start(t, nil, rotBin, rotArgs...)
	rotAdmin(t, rotProc, addr, adminDir)
	sealctl(t, rotURL, adminDir, nil, "workload", "create", "payments")
	egg := strings.TrimSpace(string(sealctl(t, rotURL, adminDir, nil, "egg", "mint", "payments")))
	sealctl(t, rotURL, adminDir, []byte("v1"), "secret", "put", "payments", "db-password", "--from-file", "-")
	sealctl(t, rotURL, adminDir, nil, "secret", "put", "payments", "session", "--from-literal", "s1", "--expires-after", "6s")
	expires := time.Now().Add(6 * time.Second)

	const interval = 2 * time.Second
	gid := os.Getgid()
	if gid == 0 {
		gid = 1234 // root may give the files to any group
	}
	out := filepath.Join(t.TempDir(), "seal")
	p := start(t, []string{"SEAL_EGG=" + egg}, initBin, "--watch", "--out", out, "--secrets-interval", interval.String(), "--gid", strconv.Itoa(gid))
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(out, "secrets", name))
		if err != nil {
			return ""
		}
		return string(b)
	}
	// waitFor polls until cond holds, allowing two intervals plus slack for a loaded machine,
	// and returns how long it took.
	waitFor := func(what string, cond func() bool) time.Duration {
		t.Helper()
		start := time.Now()
		for !cond() {
			if p.exited() || time.Since(start) > 2*interval+3*time.Second {
				t.Fatalf("%s: not seen after %s (exited %v); seal-init stderr:\n%s", what, time.Since(start), p.exited(), p.stderr)
			}
			time.Sleep(20 * time.Millisecond)
		}
		return time.Since(start)
	}
	waitFor("first set", func() bool { return read("db-password") == "v1" && read("session") == "s1" })
	fi, err := os.Stat(filepath.Join(out, "secrets", "db-password"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o440 || int(fi.Sys().(*syscall.Stat_t).Gid) != gid {
		t.Errorf("secrets/db-password mode %v gid %d, want 0440 and group %d", fi.Mode().Perm(), fi.Sys().(*syscall.Stat_t).Gid, gid)
	}

	sealctl(t, rotURL, adminDir, []byte("v2"), "secret", "put", "payments", "db-password", "--from-file", "-")
	took := waitFor("the updated value", func() bool { return read("db-password") == "v2" })
	t.Logf("update seen after %s (interval %s)", took.Round(time.Millisecond), interval)

	time.Sleep(time.Until(expires))
	took = waitFor("the expiry", func() bool { return read("session") == "" })
	t.Logf("expiry seen %s after expiresAfter", took.Round(time.Millisecond))
	if read("db-password") != "v2" {
		t.Errorf("after the expiry db-password = %q, want v2", read("db-password"))
	}

	// The ROT goes down: seal-init keeps the last good secrets.
	if err := rotProc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	rotProc.wait(t)
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(p.stderr.String(), "keeping the last good set") {
		if time.Now().After(deadline) || p.exited() {
			t.Fatalf("seal-init did not report the failed poll; stderr:\n%s", p.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if read("db-password") != "v2" {
		t.Errorf("during the outage db-password = %q, want the last good v2", read("db-password"))
	}
	// Back up: changes flow again.
	rotProc = start(t, nil, rotBin, rotArgs...)
	rotAdmin(t, rotProc, addr, adminDir)
	sealctl(t, rotURL, adminDir, []byte("v3"), "secret", "put", "payments", "db-password", "--from-file", "-")
	waitFor("the value after the outage", func() bool { return read("db-password") == "v3" })
	if strings.Contains(p.stderr.String(), "v2") || strings.Contains(rotProc.stderr.String(), "v3") {
		t.Errorf("a secret value appears in the logs")
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t); code != 0 {
		t.Errorf("seal-init exit %d on SIGTERM; stderr:\n%s", code, p.stderr)
	}
}
