// Package swtpm starts a real software TPM 2.0 (Debian's swtpm, libtpms) for tests: one swtpm
// process in socket mode on loopback TCP with its state in a temporary directory, stopped when
// the test ends. Tests reach it as seal-init does, with the address "tcp:127.0.0.1:PORT".
package swtpm

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/seal-dev/seal/internal/testing/testenv"
)

// TPM is a running swtpm.
type TPM struct {
	// Addr is the TPM command channel, host:port (raw TPM 2.0 commands over TCP).
	Addr string
	// StateDir holds the TPM's NVRAM (persistent handles survive a restart of the same dir).
	StateDir string
}

// Spec is the --tpm argument of seal-init for this TPM.
func (t *TPM) Spec() string { return "tcp:" + t.Addr }

// Start runs swtpm until t ends. It skips t when swtpm is not installed (run make test-tools),
// or fails it in CI (SEAL_REQUIRE_NODE).
func Start(t testing.TB) *TPM {
	t.Helper()
	bin := testenv.Command(t, "swtpm", "make test-tools")
	dir := t.TempDir()
	var last error
	for range 20 {
		port, err := freePortPair()
		if err != nil {
			t.Fatalf("swtpm: %v", err)
		}
		cmd := exec.Command(bin, "socket", "--tpm2",
			"--server", "type=tcp,bindaddr=127.0.0.1,port="+strconv.Itoa(port),
			"--ctrl", "type=tcp,bindaddr=127.0.0.1,port="+strconv.Itoa(port+1),
			"--tpmstate", "dir="+dir,
			"--flags", "not-need-init,startup-clear")
		logf, err := os.Create(filepath.Join(dir, "swtpm.log"))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatalf("swtpm: starting %s: %v", bin, err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait(); logf.Close() }()
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if err := waitListening(addr, exited); err != nil {
			last = err
			_ = cmd.Process.Kill()
			continue
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			<-exited
		})
		return &TPM{Addr: addr, StateDir: dir}
	}
	log, _ := os.ReadFile(filepath.Join(dir, "swtpm.log"))
	t.Fatalf("swtpm: did not start: %v\n%s", last, log)
	return nil
}

func waitListening(addr string, exited <-chan error) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("swtpm exited: %v", err)
		default:
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("swtpm not listening on %s after 10s", addr)
}

// freePortPair finds a port P with P and P+1 free on loopback (command and control channels).
func freePortPair() (int, error) {
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		p := l.Addr().(*net.TCPAddr).Port
		l2, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+1))
		l.Close()
		if err != nil {
			continue
		}
		l2.Close()
		return p, nil
	}
	return 0, fmt.Errorf("no free pair of loopback ports")
}
