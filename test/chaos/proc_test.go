package chaos

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/testing/testenv"
)

// rotProc is a seal-rot serve process that can be killed (-9) and started again on the same
// address.
type rotProc struct {
	t       *testing.T
	name    string
	bin     string
	environ []string
	args    []string
	addr    string
	log     *testenv.LogBuffer

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
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

// startROT runs `seal-rot serve --listen ADDR args...` and stops it when the test ends.
func startROT(t *testing.T, name, bin string, environ []string, args ...string) *rotProc {
	t.Helper()
	r := &rotProc{t: t, name: name, bin: bin, environ: environ, args: args, addr: freeAddr(t), log: &testenv.LogBuffer{}}
	r.start()
	t.Cleanup(func() {
		r.signal(syscall.SIGTERM)
		if t.Failed() {
			t.Logf("%s log (tail):\n%s", r.name, tailString(r.log.String(), 3000))
		}
	})
	return r
}

func (r *rotProc) start() {
	r.t.Helper()
	cmd := exec.Command(r.bin, append([]string{"serve", "--listen", r.addr}, r.args...)...)
	cmd.Env = append(os.Environ(), r.environ...)
	cmd.Stderr = r.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	r.mu.Lock()
	r.cmd, r.done = cmd, done
	r.mu.Unlock()
}

// signal sends sig and waits for the process to exit (SIGKILL after 20 s).
func (r *rotProc) signal(sig syscall.Signal) {
	r.mu.Lock()
	cmd, done := r.cmd, r.done
	r.mu.Unlock()
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// kill9 ends the process with SIGKILL, as the kernel's OOM killer or a node loss would.
func (r *rotProc) kill9() { r.signal(syscall.SIGKILL) }

// exited reports whether the process has exited.
func (r *rotProc) exited() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// waitReady waits until the process answers /readyz on its own address with c (an admin
// client for that address).
func (r *rotProc) waitReady(t *testing.T, c *rotapi.Client) {
	t.Helper()
	testenv.Eventually(t, 90*time.Second, func() error {
		if r.exited() {
			t.Fatalf("%s exited; log:\n%s", r.name, tailString(r.log.String(), 4000))
		}
		return c.Do(context.Background(), http.MethodGet, rotapi.PathReadyz, nil, nil)
	})
}

// adminClient is an admin API client for r with the admin credentials in PEM.
func adminClient(t *testing.T, addr string, caPEM, certPEM, keyPEM []byte) *rotapi.Client {
	t.Helper()
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	c, err := rotapi.NewClient("https://"+addr, caPEM, &cert)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.HTTP.CloseIdleConnections)
	return c
}

// adminDirClient reads STATE_DIR/admin as sealctl --admin does.
func adminDirClient(t *testing.T, addr, dir string) *rotapi.Client {
	t.Helper()
	var b [3][]byte
	for i, n := range []string{"ca.crt", "tls.crt", "tls.key"} {
		var err error
		if b[i], err = os.ReadFile(filepath.Join(dir, n)); err != nil {
			t.Fatal(err)
		}
	}
	return adminClient(t, addr, b[0], b[1], b[2])
}

// front is a round-robin TCP front on loopback, as a Service or a layer-4 load balancer in
// front of the ROT replicas: each new connection goes to the next backend, TLS passes through.
// It has no health checks: a connection to a dead backend is closed at once, and the client
// retries.
type front struct {
	ln       net.Listener
	backends []string
	next     atomic.Uint64
	conns    atomic.Int64 // connections accepted
	refused  atomic.Int64 // connections closed because the backend did not answer
	wg       sync.WaitGroup
}

func startFront(t *testing.T) *front {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &front{ln: ln}
	t.Cleanup(func() { _ = ln.Close(); f.wg.Wait() })
	return f
}

func (f *front) addr() string { return f.ln.Addr().String() }

// serve starts forwarding to backends.
func (f *front) serve(backends ...string) {
	f.backends = backends
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			c, err := f.ln.Accept()
			if err != nil {
				return
			}
			f.conns.Add(1)
			b := f.backends[f.next.Add(1)%uint64(len(f.backends))]
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				defer c.Close()
				d, err := net.DialTimeout("tcp", b, 2*time.Second)
				if err != nil {
					f.refused.Add(1)
					return
				}
				defer d.Close()
				done := make(chan struct{}, 2)
				pipe := func(dst, src net.Conn) {
					_, _ = io.Copy(dst, src)
					// A closed side ends both: the client sees the backend's death at once.
					_ = dst.Close()
					_ = src.Close()
					done <- struct{}{}
				}
				go pipe(d, c)
				go pipe(c, d)
				<-done
				<-done
			}()
		}
	}()
}

func tailString(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// isConnErr reports whether err is a broken or refused connection (what a kill -9 causes), not
// an answer of the ROT.
func isConnErr(err error) bool {
	var se *rotapi.StatusError
	if errors.As(err, &se) {
		return false
	}
	return err != nil
}
