package main_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/testing/testenv"
)

var (
	ageOnce sync.Once
	ageDir  string
	agePath string
	ageErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.CleanupBinaries()
	if ageDir != "" {
		_ = os.RemoveAll(ageDir)
	}
	os.Exit(code)
}

// ageCLI builds the real age command from the module cache once per test process.
func ageCLI(t *testing.T) string {
	t.Helper()
	ageOnce.Do(func() {
		if ageDir, ageErr = os.MkdirTemp("", "seal-age-"); ageErr != nil {
			return
		}
		agePath = filepath.Join(ageDir, "age")
		cmd := exec.Command("go", "build", "-o", agePath, "filippo.io/age/cmd/age")
		cmd.Dir = testenv.RepoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			ageErr = &buildError{err: err, out: string(out)}
		}
	})
	if ageErr != nil {
		t.Fatalf("building age: %v", ageErr)
	}
	return agePath
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

// proc is a running process whose stderr is captured.
type proc struct {
	cmd    *exec.Cmd
	stderr *testenv.LogBuffer
	done   chan struct{}
	err    error
}

// start runs bin with args and env (added to a minimal environment) and kills it at cleanup.
func start(t *testing.T, env []string, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), stderr: &testenv.LogBuffer{}, done: make(chan struct{})}
	// A termination log that does not exist is not written; tests that want one create it.
	p.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "SEAL_TERMINATION_LOG=" + filepath.Join(t.TempDir(), "none")}, env...)
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait returns the exit code, failing the test if the process runs on past a minute.
func (p *proc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(time.Minute):
		t.Fatalf("%s did not exit; stderr:\n%s", filepath.Base(p.cmd.Path), p.stderr)
		return -1
	}
}

// run runs bin to completion and returns its exit code and stderr.
func run(t *testing.T, env []string, bin string, args ...string) (int, string) {
	t.Helper()
	p := start(t, env, bin, args...)
	code := p.wait(t)
	return code, p.stderr.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// rotAdmin waits until the seal-rot process p serving at addr is ready and returns an admin client.
func rotAdmin(t *testing.T, p *proc, addr, adminDir string) *rotapi.Client {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := adminClient(addr, adminDir)
		if err == nil {
			if err = c.Do(context.Background(), http.MethodGet, rotapi.PathReadyz, nil, nil); err == nil {
				t.Cleanup(c.HTTP.CloseIdleConnections)
				return c
			}
		}
		if p.exited() {
			t.Fatalf("seal-rot exited; stderr:\n%s", p.stderr)
		}
		if time.Now().After(deadline) {
			t.Fatalf("seal-rot not ready: %v; stderr:\n%s", err, p.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func adminClient(addr, adminDir string) (*rotapi.Client, error) {
	caPEM, err := os.ReadFile(filepath.Join(adminDir, "ca.crt"))
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(adminDir, "tls.crt"), filepath.Join(adminDir, "tls.key"))
	if err != nil {
		return nil, err
	}
	return rotapi.NewClient("https://"+addr, caPEM, &cert)
}

// sealctl runs the real sealctl against the ROT r with stdin and returns its stdout.
func sealctl(t *testing.T, rotURL, adminDir string, stdin []byte, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(testenv.Binary(t, "./cmd/sealctl"), append([]string{"--rot", rotURL, "--admin", adminDir}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sealctl %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// lines splits output into its non-empty lines.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}
