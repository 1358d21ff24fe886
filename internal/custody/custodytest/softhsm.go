package custodytest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/seal-dev/seal/internal/custody"
	"github.com/seal-dev/seal/internal/testing/testenv"
)

// TestPIN is the user PIN of the tokens SoftHSM initialises.
const TestPIN = "1234"

// SoftHSM initialises a fresh SoftHSM2 token labelled label in a temporary token directory,
// points SOFTHSM2_CONF at it for the rest of the test (so the test must not be parallel), and
// returns the token's configuration and a PIN file. It skips when softhsm2 is not installed
// (make test-tools installs it), except in CI.
func SoftHSM(t testing.TB, label string) (custody.PKCS11Config, string) {
	t.Helper()
	util := testenv.Command(t, "softhsm2-util", "make test-tools")
	module := ""
	for _, p := range []string{"/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so", "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so", "/usr/local/lib/softhsm/libsofthsm2.so"} {
		if _, err := os.Stat(p); err == nil {
			module = p
			break
		}
	}
	if module == "" {
		t.Fatalf("custodytest: softhsm2-util is installed but libsofthsm2.so is not where Debian puts it")
	}
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	if err := os.WriteFile(conf, []byte("directories.tokendir = "+tokens+"\nobjectstore.backend = file\nlog.level = ERROR\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", conf)
	out, err := exec.Command(util, "--init-token", "--free", "--label", label, "--so-pin", "5678", "--pin", TestPIN).CombinedOutput()
	if err != nil {
		t.Fatalf("custodytest: softhsm2-util --init-token: %v\n%s", err, out)
	}
	pinFile := filepath.Join(dir, "pin")
	if err := os.WriteFile(pinFile, []byte(TestPIN+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return custody.PKCS11Config{Module: module, Token: label, PIN: TestPIN}, pinFile
}
