//go:build cgo

package rotcmd_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seal-dev/seal/internal/custody/custodytest"
	"github.com/seal-dev/seal/internal/rot/rotcmd"
)

// TestServePKCS11: seal-rot serve --key-provider pkcs11 on a real SoftHSM2 token writes a state
// that names its keys by handle, and that state does not start without the token.
func TestServePKCS11(t *testing.T) {
	cfg, pinFile := custodytest.SoftHSM(t, "seal-rot")
	state := filepath.Join(t.TempDir(), "state")
	serve := []string{"serve", "--state-dir", state, "--trust-domain", "td.example", "--listen", "127.0.0.1:0", "--external-url", "https://127.0.0.1:1"}
	p11 := append(append([]string(nil), serve...), "--key-provider", "pkcs11", "--pkcs11-module", cfg.Module, "--pkcs11-token", cfg.Token, "--pkcs11-pin-file", pinFile)

	ctx, cancel := context.WithCancel(context.Background())
	var errb bytes.Buffer
	done := make(chan int)
	go func() { done <- rotcmd.Main(ctx, p11, &bytes.Buffer{}, &errb) }()
	deadline := time.Now().Add(20 * time.Second)
	var b []byte
	for {
		var err error
		if b, err = os.ReadFile(filepath.Join(state, "authority.json")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no state after 20s; stderr:\n%s", errb.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != rotcmd.ExitOK {
		t.Fatalf("serve --key-provider pkcs11 exited %d:\n%s", code, errb.String())
	}
	if !strings.Contains(string(b), "pkcs11:object=seal-ca-") || strings.Contains(string(b), "PRIVATE KEY") {
		t.Errorf("authority.json does not name the ROT CA key by handle:\n%.300s", b)
	}
	var out bytes.Buffer
	if code := rotcmd.Main(context.Background(), serve, &bytes.Buffer{}, &out); code != rotcmd.ExitFailure || !strings.Contains(out.String(), "--key-provider pkcs11") {
		t.Errorf("serve without the token = %d, %q; want exit 1 naming --key-provider pkcs11", code, out.String())
	}
}
