package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/seal-dev/seal/internal/testing/testenv"
)

// rrFront is a TCP round-robin front on loopback, as a Service's virtual IP is to the API
// server: each new connection goes to the next backend, and a backend that refuses the
// connection is skipped (as kube-proxy does once the dead pod leaves the EndpointSlice; here at
// once, so the figures measure Seal, not endpoint propagation). TLS passes through. When no
// backend accepts, the client's connection is reset. A backend that dies mid-connection closes
// the client's side too: in-flight requests on it fail as they would through a Service.
type rrFront struct {
	ln       net.Listener
	backends []string
	next     atomic.Uint64
	conns    []atomic.Int64 // connections sent to each backend
	active   []atomic.Int64 // of which open now
	refused  atomic.Int64   // connections no backend accepted
	wg       sync.WaitGroup
	mu       sync.Mutex
	open     map[net.Conn]struct{}
}

func startFront(t *testing.T, backends ...string) *rrFront {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &rrFront{ln: ln, backends: backends, conns: make([]atomic.Int64, len(backends)), active: make([]atomic.Int64, len(backends)), open: map[net.Conn]struct{}{}}
	f.wg.Add(1)
	go f.serve()
	t.Cleanup(func() {
		ln.Close()
		f.mu.Lock()
		for c := range f.open {
			c.Close()
		}
		f.mu.Unlock()
		f.wg.Wait()
	})
	return f
}

func (f *rrFront) addr() string { return f.ln.Addr().String() }

// busiest is the backend with the most open connections: the one the API server is using (its
// webhook client keeps one HTTP/2 connection and sends every review on it).
func (f *rrFront) busiest() int {
	k := 0
	for i := range f.active {
		if f.active[i].Load() > f.active[k].Load() {
			k = i
		}
	}
	return k
}

func (f *rrFront) track(c net.Conn, add bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if add {
		f.open[c] = struct{}{}
	} else {
		delete(f.open, c)
	}
}

func (f *rrFront) serve() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			f.proxy(c)
		}()
	}
}

func (f *rrFront) proxy(c net.Conn) {
	defer c.Close()
	start := f.next.Add(1)
	var b net.Conn
	for i := range f.backends {
		k := int(start+uint64(i)) % len(f.backends)
		var err error
		if b, err = net.DialTimeout("tcp", f.backends[k], 2*time.Second); err == nil {
			f.conns[k].Add(1)
			f.active[k].Add(1)
			defer f.active[k].Add(-1)
			break
		}
	}
	if b == nil {
		f.refused.Add(1)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // reset, as a Service without endpoints rejects
		}
		return
	}
	f.track(c, true)
	f.track(b, true)
	defer func() { f.track(c, false); f.track(b, false); b.Close() }()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		done <- struct{}{}
	}
	go pipe(b, c)
	go pipe(c, b)
	<-done // either side closed: close both, as a dead endpoint's connections end
}

// webhookProc is one real seal-webhook replica.
type webhookProc struct {
	name, addr, metrics string
	args                []string
	bin                 string
	cmd                 *exec.Cmd
	done                chan error
	log                 *testenv.LogBuffer
}

func startWebhookProc(t *testing.T, bin, name string, args ...string) *webhookProc {
	t.Helper()
	w := &webhookProc{name: name, addr: soakFreeAddr(t), metrics: soakFreeAddr(t), bin: bin, log: &testenv.LogBuffer{}}
	host, port, _ := net.SplitHostPort(w.addr)
	w.args = append([]string{"--host", host, "--port", port, "--metrics-addr", w.metrics, "--log-level", "warn"}, args...)
	w.start(t)
	t.Cleanup(func() { w.stop(t, syscall.SIGTERM) })
	return w
}

func (w *webhookProc) start(t *testing.T) {
	t.Helper()
	w.cmd = exec.Command(w.bin, w.args...)
	w.cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	w.cmd.Stderr = w.log
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.done = make(chan error, 1)
	go func() { w.done <- w.cmd.Wait() }()
	testenv.Eventually(t, 90*time.Second, func() error {
		select {
		case err := <-w.done:
			w.done <- err
			t.Fatalf("seal-webhook %s exited (%v):\n%s", w.name, err, w.log)
		default:
		}
		resp, err := http.Get("http://" + w.metrics + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("seal-webhook %s /readyz: %s", w.name, resp.Status)
		}
		return nil
	})
}

// stop sends sig and waits for the process to end (SIGKILL after 30 s).
func (w *webhookProc) stop(t *testing.T, sig syscall.Signal) {
	select {
	case err := <-w.done:
		w.done <- err
		return
	default:
	}
	_ = w.cmd.Process.Signal(sig)
	select {
	case err := <-w.done:
		w.done <- err
	case <-time.After(30 * time.Second):
		_ = w.cmd.Process.Kill()
		w.done <- <-w.done
		t.Errorf("seal-webhook %s did not stop on %v:\n%s", w.name, sig, w.log)
	}
}

// reviews is the number of reviews the replica answered (seal_webhook_requests_total, all labels).
func (w *webhookProc) reviews() int {
	n, _ := testenv.MetricSum("http://"+w.metrics+"/metrics", "seal_webhook_requests_total")
	return int(n)
}

// loadResult is what a burst of pod creations gave.
type loadResult struct {
	sent, ok int
	failures map[string]int // error text → count
	// late counts the failed creates that started more than faultWindow after the fault began:
	// those never met the faulty replica.
	late int
	// behind counts the creates sent more than a second after their turn: the 256 in flight
	// were all waiting, so the API server did not keep up with the rate.
	behind int
	took   time.Duration
}

// faultWindow is how long after a replica dies a create may still meet it (a review already
// on its way, a connection the API server has not seen close yet).
const faultWindow = 3 * time.Second

func (r loadResult) String() string {
	return fmt.Sprintf("%d creates in %s (%.0f/s), %d failed (%d started over %s after the fault)", r.sent, r.took.Round(100*time.Millisecond), float64(r.sent)/r.took.Seconds(), r.sent-r.ok, r.late, faultWindow)
}

// createAtRate calls create(i) rate times a second for d (at most 256 in flight), calling
// during(ctx) once, at d/3, in its own goroutine (the fault).
func createAtRate(rate int, d time.Duration, create func(ctx context.Context, i int) error, during func()) loadResult {
	ctx, cancel := context.WithTimeout(context.Background(), d+time.Minute)
	defer cancel()
	res := loadResult{failures: map[string]int{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 256)
	n := int(float64(rate) * d.Seconds())
	start := time.Now()
	faulted := false
	var faultAt time.Time
	for i := range n {
		if at := start.Add(time.Duration(i) * time.Second / time.Duration(rate)); time.Until(at) > 0 {
			time.Sleep(time.Until(at))
		}
		if !faulted && during != nil && time.Since(start) >= d/3 {
			faulted, faultAt = true, time.Now()
			wg.Add(1)
			go func() { defer wg.Done(); during() }()
		}
		sem <- struct{}{}
		if time.Since(start.Add(time.Duration(i)*time.Second/time.Duration(rate))) > time.Second {
			res.behind++ // only this goroutine writes it before wg.Wait
		}
		wg.Add(1)
		late := faulted && time.Since(faultAt) > faultWindow
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			err := create(ctx, i)
			mu.Lock()
			defer mu.Unlock()
			res.sent++
			if err == nil {
				res.ok++
			} else {
				res.failures[err.Error()]++
				if late {
					res.late++
				}
			}
		}()
	}
	wg.Wait()
	res.took = time.Since(start)
	return res
}
