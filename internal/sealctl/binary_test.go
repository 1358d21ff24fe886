package sealctl

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	// The age CLI (filippo.io/age/cmd/age) is built by TestBinaryWalkthrough; this import keeps
	// the go.sum entries it needs (filippo.io/nistec) through go mod tidy.
	_ "filippo.io/age/tag"

	"github.com/seal-dev/seal/internal/rot/rottest"
	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/testing/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.CleanupBinaries()
	os.Exit(code)
}

// proc runs a real binary and returns what a shell user would see.
func proc(t *testing.T, env []string, stdin []byte, bin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("running %s: %v", filepath.Base(bin), err)
		}
		code = ee.ExitCode()
	}
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// TestBinaryWalkthrough is the laptop walkthrough of docs/sealctl.md with the real sealctl,
// seal-init and age binaries against a real ROT: exit codes, and stdout/stderr separation.
func TestBinaryWalkthrough(t *testing.T) {
	sealctl := testenv.Binary(t, "./cmd/sealctl")
	sealInit := testenv.Binary(t, "./cmd/init")
	ageBin := testenv.Binary(t, "filippo.io/age/cmd/age")
	r := rottest.Start(t)
	env := []string{EnvROT + "=" + r.URL, EnvAdmin + "=" + r.AdminDir}

	res := proc(t, nil, nil, sealctl, "--help")
	if res.code != 0 || !strings.Contains(res.stdout, "Usage:") || !strings.Contains(res.stdout, "SEAL_ADMIN") || res.stderr != "" {
		t.Errorf("sealctl --help: %+v", res)
	}
	res = proc(t, nil, nil, sealctl, "workload", "list")
	if res.code != ExitUsage || res.stdout != "" || !strings.Contains(res.stderr, "pass --rot URL and --admin DIR, or set SEAL_ROT and SEAL_ADMIN") {
		t.Errorf("sealctl workload list without config: %+v", res)
	}
	if res := proc(t, env, nil, sealctl, "workload", "create", "payments", "--peer", "api"); res.code != 0 {
		t.Fatalf("workload create: %+v", res)
	}
	res = proc(t, env, nil, sealctl, "egg", "mint", "payments", "--peer", "api")
	if res.code != 0 || !strings.HasPrefix(res.stdout, "seal-egg-v1.") || strings.Count(res.stdout, "\n") != 1 || !strings.Contains(res.stderr, "Minted Egg") {
		t.Fatalf("egg mint: %+v", res)
	}
	dir := t.TempDir()
	eggFile := filepath.Join(dir, "egg.txt")
	if err := os.WriteFile(eggFile, []byte(res.stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	pod := filepath.Join(dir, "pod")
	if res := proc(t, nil, nil, sealInit, "--egg-file", eggFile, "--out", pod, "--timeout", "30s"); res.code != 0 {
		t.Fatalf("seal-init: %+v", res)
	}
	plain := []byte("db-password: hunter2\n")
	res = proc(t, env, plain, sealctl, "seal", "payments")
	if res.code != 0 || !strings.HasPrefix(res.stdout, "age-encryption.org/v1\n") || !strings.Contains(res.stderr, "Sealed 21 bytes") {
		t.Fatalf("seal: code %d stdout %.30q stderr %q", res.code, res.stdout, res.stderr)
	}
	dec := proc(t, nil, []byte(res.stdout), ageBin, "-d", "-i", filepath.Join(pod, "keys.txt"))
	if dec.code != 0 || dec.stdout != string(plain) {
		t.Errorf("age -d -i keys.txt: %+v, want %q", dec, plain)
	}
	res = proc(t, env, nil, sealctl, "workload", "get", "nope")
	if res.code != ExitFailed || res.stdout != "" || res.stderr != "sealctl: the ROT refused: 404 workload \"nope\" does not exist\n" {
		t.Errorf("workload get nope: %+v", res)
	}
	// Forced rotation through the real binary: a new Workload CA, the old one retired, and a
	// refusal that says the fix.
	res = proc(t, env, nil, sealctl, "ca", "list", "-o", "json")
	var cas []rotapi.CA
	if res.code != 0 || json.Unmarshal([]byte(res.stdout), &cas) != nil || len(cas) != 2 {
		t.Fatalf("ca list: %+v", res)
	}
	if res := proc(t, env, nil, sealctl, "rotate", "workload-ca", "payments", "--now"); res.code != 0 || !strings.Contains(res.stdout, "payments") {
		t.Errorf("rotate workload-ca: %+v", res)
	}
	if res := proc(t, env, nil, sealctl, "ca", "retire", cas[1].Fingerprint); res.code != 0 || !strings.Contains(res.stdout, cas[1].Fingerprint) {
		t.Errorf("ca retire of the old Workload CA: %+v", res)
	}
	res = proc(t, env, nil, sealctl, "ca", "retire", cas[0].Fingerprint)
	if res.code != ExitFailed || res.stdout != "" || !strings.Contains(res.stderr, "fix: sealctl rotate rot-ca first") {
		t.Errorf("ca retire of the current ROT CA: %+v", res)
	}
	if res := proc(t, env, nil, sealctl, "rotate", "egg-key"); res.code != 0 || !strings.Contains(res.stdout, "Egg key:") {
		t.Errorf("rotate egg-key: %+v", res)
	}
}
