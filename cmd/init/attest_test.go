package main_test

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/testing/swtpm"
	"github.com/seal-dev/seal/internal/testing/testenv"
)

// TestAttestedRedemptionProcesses: real seal-rot, sealctl and seal-init binaries and a real
// software TPM. seal-init enrolls the TPM's attestation key, the operator registers it and
// the PCR reference values, and seal-init --attest tpm2 redeems; with a policy the TPM does not
// match, seal-init fails with the ROT's named check and writes nothing.
func TestAttestedRedemptionProcesses(t *testing.T) {
	tpm := swtpm.Start(t)
	initBin := testenv.Binary(t, "./cmd/init")
	rotBin := testenv.Binary(t, "./cmd/rot")
	state := filepath.Join(t.TempDir(), "state")
	addr := freeAddr(t)
	rot := start(t, nil, rotBin, "serve", "--state-dir", state, "--listen", addr, "--trust-domain", "attest.seal.dev")
	adminDir := filepath.Join(state, "admin")
	admin := rotAdmin(t, rot, addr, adminDir)
	rotURL := "https://" + addr

	// The node: enroll the AK, twice (the second run reuses it), and read PCR 0 and 7.
	ak := enrollAK(t, initBin, tpm.Spec())
	if again := enrollAK(t, initBin, tpm.Spec()); again != ak {
		t.Fatal("seal-init attest enroll made a new key on the second run; want the persisted one reused")
	}
	pcrs := capture(t, initBin, "attest", "pcrs", "--tpm", tpm.Spec(), "--pcr", "0,7")
	akFile := filepath.Join(t.TempDir(), "node-1.pem")
	if err := os.WriteFile(akFile, []byte(ak), 0o600); err != nil {
		t.Fatal(err)
	}

	// The operator: register the key and the reference values, create the workloads.
	sealctl(t, rotURL, adminDir, nil, "attestation", "key", "add", "node-1", "--ak-pub", akFile)
	sealctl(t, rotURL, adminDir, nil, append([]string{"attestation", "policy", "set", "prod"}, strings.Fields(pcrs)...)...)
	if !strings.Contains(pcrs, "--pcr 7=") {
		t.Fatalf("seal-init attest pcrs printed %q, want --pcr INDEX=HEX lines", pcrs)
	}
	sealctl(t, rotURL, adminDir, nil, "attestation", "policy", "set", "other", "--pcr", "7="+strings.Repeat("11", 32))
	sealctl(t, rotURL, adminDir, nil, "workload", "create", "vault", "--attest", "prod")
	sealctl(t, rotURL, adminDir, nil, "workload", "create", "strict", "--attest", "other")
	mint := func(w string) string {
		var m rotapi.MintResponse
		if err := admin.Do(t.Context(), http.MethodPost, rotapi.Path(rotapi.PathEggs, w), rotapi.MintRequest{}, &m); err != nil {
			t.Fatal(err)
		}
		return m.Egg
	}

	t.Run("attested pod redeems", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "seal")
		code, stderr := run(t, []string{"SEAL_EGG=" + mint("vault"), "SEAL_OUT=" + out}, initBin, "--attest", "tpm2", "--tpm", tpm.Spec())
		if code != 0 {
			t.Fatalf("seal-init exit %d; stderr:\n%s\nseal-rot:\n%s", code, stderr, rot.stderr)
		}
		if _, err := os.Stat(filepath.Join(out, "tls.crt")); err != nil {
			t.Errorf("no certificate written: %v", err)
		}
	})
	t.Run("without --attest the ROT refuses", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "seal")
		code, stderr := run(t, []string{"SEAL_EGG=" + mint("vault"), "SEAL_OUT=" + out}, initBin)
		if code != 1 || !strings.Contains(stderr, "refused this machine's attestation") || !strings.Contains(stderr, "no evidence") {
			t.Errorf("exit %d, stderr %q; want 1 naming the missing evidence", code, stderr)
		}
	})
	t.Run("PCR mismatch is named and nothing is written", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "seal")
		code, stderr := run(t, []string{"SEAL_EGG=" + mint("strict"), "SEAL_OUT=" + out}, initBin, "--attest", "tpm2", "--tpm", tpm.Spec())
		if code != 1 || !strings.Contains(stderr, "PCR 7 mismatch") {
			t.Errorf("exit %d, stderr %q; want 1 with PCR 7 mismatch", code, stderr)
		}
		if _, err := os.Stat(filepath.Join(out, "tls.crt")); err == nil {
			t.Error("tls.crt written although attestation failed")
		}
	})
	t.Run("no TPM", func(t *testing.T) {
		code, stderr := run(t, []string{"SEAL_EGG=" + mint("vault"), "SEAL_OUT=" + t.TempDir()}, initBin, "--attest", "tpm2", "--tpm", "/dev/no-such-tpm")
		if code != 1 || !strings.Contains(stderr, "cannot open the TPM /dev/no-such-tpm") {
			t.Errorf("exit %d, stderr %q; want 1 naming the TPM", code, stderr)
		}
	})
}

func enrollAK(t *testing.T, initBin, spec string) string {
	t.Helper()
	return capture(t, initBin, "attest", "enroll", "--tpm", spec)
}

// capture runs seal-init with args and returns its stdout.
func capture(t *testing.T, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("seal-init %v: %v\n%s", args, err, stderr.String())
	}
	return string(out)
}
