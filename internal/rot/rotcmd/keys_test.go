package rotcmd_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seal-dev/seal/internal/custody"
	"github.com/seal-dev/seal/internal/rot/rotcmd"
)

// TestKeyFlags: seal-rot serve on a state sealed under a KEK refuses to start without it, and
// key-provider mistakes are usage errors naming the flag.
func TestKeyFlags(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	kek := make([]byte, custody.KEKSize)
	if _, err := rand.Read(kek); err != nil {
		t.Fatal(err)
	}
	kekFile, openKEK := filepath.Join(dir, "kek"), filepath.Join(dir, "kek-open")
	os.WriteFile(kekFile, []byte(custody.HexKEK(kek)+"\n"), 0o600)
	os.WriteFile(openKEK, kek, 0o644)
	serve := []string{"serve", "--state-dir", state, "--trust-domain", "td.example", "--listen", "127.0.0.1:0", "--external-url", "https://127.0.0.1:1"}

	// First start with the KEK: it creates the sealed state; stop it once it serves.
	ctx, cancel := context.WithCancel(context.Background())
	var errb bytes.Buffer
	done := make(chan int)
	go func() { done <- rotcmd.Main(ctx, append(serve, "--kek-file", kekFile), &bytes.Buffer{}, &errb) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(state, "authority.json")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no state after 20s; stderr:\n%s", errb.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != rotcmd.ExitOK {
		t.Fatalf("serve with --kek-file exited %d:\n%s", code, errb.String())
	}

	for name, tc := range map[string]struct {
		args []string
		want int
		msg  string
	}{
		"sealed state without the KEK": {serve, rotcmd.ExitFailure, "start seal-rot with --kek-file"},
		"KEK file others may read":     {append(serve, "--kek-file", openKEK), rotcmd.ExitFailure, "chmod 600"},
		"unknown provider":             {append(serve, "--key-provider", "vault"), rotcmd.ExitUsage, "--key-provider"},
		"pkcs11 without a token":       {append(serve, "--key-provider", "pkcs11"), rotcmd.ExitUsage, "--pkcs11-module"},
		"pkcs11 flags with file":       {append(serve, "--pkcs11-token", "t"), rotcmd.ExitUsage, "--key-provider pkcs11"},
		"upstream key without cert":    {append(serve, "--upstream-ca-key", "k.pem"), rotcmd.ExitUsage, "--upstream-ca-cert"},
		"previous KEK without a KEK":   {append(serve, "--kek-previous-file", kekFile), rotcmd.ExitUsage, "--kek-previous-file needs --kek-file"},
		"upstream label with file":     {append(serve, "--kek-file", kekFile, "--upstream-ca-pkcs11-label", "org"), rotcmd.ExitUsage, "needs --key-provider pkcs11"},
	} {
		t.Run(name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if got := rotcmd.Main(context.Background(), tc.args, &out, &errb); got != tc.want {
				t.Fatalf("Main = %d, want %d; stderr:\n%s", got, tc.want, errb.String())
			}
			if !strings.Contains(errb.String(), tc.msg) {
				t.Errorf("stderr = %q, want %q", errb.String(), tc.msg)
			}
		})
	}
}
