package e2e

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/testing/testenv"
)

// soakEggs is how many Eggs the soak spreads its redemptions over: the ROT's per-Egg limit
// (100/s, burst 10,000) stays on, as in production, and is never the bottleneck.
const soakEggs = 32

// TestSoakRedeem redeems Eggs against a real seal-rot serve process, SEAL_SOAK_REDEMPTIONS times
// (default 5,000; make soak-redeem: 200,000), from 16 clients that drop their connections every
// 50 redemptions as seal-init's short-lived connections do, and checks that the process does not
// grow: goroutines (go_goroutines on --metrics-listen) back to their level after a warm-up,
// resident memory (VmRSS) and open descriptors within bounds. Every redemption must succeed.
func TestSoakRedeem(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real seal-rot")
	}
	total := 5000
	if v := os.Getenv("SEAL_SOAK_REDEMPTIONS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1000 {
			t.Fatalf("SEAL_SOAK_REDEMPTIONS=%q: want a number of redemptions, at least 1000", v)
		}
		total = n
	}
	r := soakStartROT(t)
	admin := r.adminClient(t)
	ctx := context.Background()
	if err := admin.Do(ctx, http.MethodPost, rotapi.PathWorkloads, rotapi.Workload{Name: "soak", Peers: []string{"api"}}, nil); err != nil {
		t.Fatal(err)
	}
	reqs := make([]*rotapi.RedeemRequest, soakEggs)
	for i := range reqs {
		var m rotapi.MintResponse
		if err := admin.Do(ctx, http.MethodPost, rotapi.Path(rotapi.PathEggs, "soak"), rotapi.MintRequest{Peer: "api"}, &m); err != nil {
			t.Fatal(err)
		}
		reqs[i] = &rotapi.RedeemRequest{Egg: m.Egg, CSR: soakCSR(t)}
	}
	admin.HTTP.CloseIdleConnections()

	warm := total / 10
	if _, err := soakRedeem(t, r, reqs, warm); err != nil {
		t.Fatalf("warm-up: %v\nseal-rot log:\n%s", err, r.log)
	}
	before := r.sample(t)
	start := time.Now()
	n, err := soakRedeem(t, r, reqs, total)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("after %d of %d redemptions: %v\nseal-rot log:\n%s", n, total, err, r.log)
	}
	// The clients' connections are closed; the server's goroutines for them end within its
	// idle handling, so wait for the count to settle before comparing.
	var after soakSample
	testenv.Eventually(t, 30*time.Second, func() error {
		after = r.sample(t)
		if after.goroutines > before.goroutines+5 {
			return fmt.Errorf("seal-rot has %d goroutines after %d redemptions, %d before", after.goroutines, total, before.goroutines)
		}
		return nil
	})
	t.Logf("soak: %d redemptions in %s (%.0f/s) over %d Eggs; before: %s; after: %s; load %s",
		total, took.Round(time.Second), float64(total)/took.Seconds(), soakEggs, before, after, loadAvg())
	// Memory: the Go heap settles after the warm-up; growth proportional to the redemptions
	// (a record or a buffer kept per request) shows here at 200,000.
	if limit := before.rssKiB + max(before.rssKiB/2, 32<<10); after.rssKiB > limit {
		t.Errorf("seal-rot resident memory grew from %d KiB to %d KiB over %d redemptions (limit %d KiB)", before.rssKiB, after.rssKiB, total, limit)
	}
	if after.fds > before.fds+16 {
		t.Errorf("seal-rot has %d open descriptors after %d redemptions, %d before: connections leak", after.fds, total, before.fds)
	}
}

// soakRedeem makes n redemptions from 16 clients over reqs (round-robin) and returns how many
// succeeded before the first error.
func soakRedeem(t *testing.T, r *soakROT, reqs []*rotapi.RedeemRequest, n int) (int, error) {
	const clients, perConn = 16, 50
	var next, done atomic.Int64
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for range clients {
		c, err := rotapi.NewClient(r.url, r.caPEM, nil)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.HTTP.CloseIdleConnections()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				_, err := c.Redeem(ctx, reqs[i%int64(len(reqs))])
				cancel()
				if err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("redemption %d: %w", i, err)
					}
					mu.Unlock()
					next.Store(int64(n)) // stop everyone
					return
				}
				done.Add(1)
				if i%perConn == 0 {
					c.HTTP.CloseIdleConnections()
				}
			}
		}()
	}
	wg.Wait()
	return int(done.Load()), first
}

func soakCSR(t *testing.T) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "pod"}}, k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

// soakROT is a real seal-rot serve process with /metrics on its own plain-HTTP listener.
type soakROT struct {
	url, metricsURL, adminDir string
	caPEM                     []byte
	cmd                       *exec.Cmd
	log                       *testenv.LogBuffer
}

func soakFreeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func soakStartROT(t *testing.T) *soakROT {
	t.Helper()
	bin := testenv.Binary(t, "./cmd/rot")
	addr, maddr, state := soakFreeAddr(t), soakFreeAddr(t), t.TempDir()
	r := &soakROT{url: "https://" + addr, metricsURL: "http://" + maddr + "/metrics", adminDir: filepath.Join(state, "admin"), log: &testenv.LogBuffer{}}
	r.cmd = exec.Command(bin, "serve", "--state-dir", state, "--listen", addr, "--metrics-listen", maddr, "--trust-domain", "soak.example.org", "--log-level", "warn")
	r.cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	r.cmd.Stderr = r.log
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.cmd.Wait() }()
	t.Cleanup(func() {
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = r.cmd.Process.Kill()
			<-done
			t.Errorf("seal-rot did not stop on SIGTERM:\n%s", r.log)
		}
	})
	testenv.Eventually(t, 60*time.Second, func() error {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("seal-rot exited (%v):\n%s", err, r.log)
		default:
		}
		caPEM, err := os.ReadFile(filepath.Join(r.adminDir, "ca.crt"))
		if err != nil {
			return err
		}
		c, err := rotapi.NewClient(r.url, caPEM, nil)
		if err != nil {
			return err
		}
		defer c.HTTP.CloseIdleConnections()
		r.caPEM = caPEM
		return c.Do(context.Background(), http.MethodGet, rotapi.PathReadyz, nil, nil)
	})
	return r
}

func (r *soakROT) adminClient(t *testing.T) *rotapi.Client {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(r.adminDir, "tls.crt"), filepath.Join(r.adminDir, "tls.key"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := rotapi.NewClient(r.url, r.caPEM, &cert)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// soakSample is what a user watching the process would look at.
type soakSample struct {
	rssKiB, hwmKiB int
	goroutines     int
	fds            int
}

func (s soakSample) String() string {
	return fmt.Sprintf("RSS %.1f MiB (peak %.1f MiB), %d goroutines, %d fds", float64(s.rssKiB)/1024, float64(s.hwmKiB)/1024, s.goroutines, s.fds)
}

func (r *soakROT) sample(t *testing.T) soakSample {
	t.Helper()
	var s soakSample
	var err error
	if s.rssKiB, s.hwmKiB, err = procMemory(r.cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	g, err := testenv.MetricSum(r.metricsURL, "go_goroutines")
	if err != nil {
		t.Fatal(err)
	}
	s.goroutines = int(g)
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", r.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	s.fds = len(fds)
	return s
}

// procMemory reads VmRSS and VmHWM (KiB) from /proc/PID/status.
func procMemory(pid int) (rss, hwm int, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/%d/status %s: %w", pid, k, err)
		}
		if k == "VmRSS" {
			rss = n
		} else {
			hwm = n
		}
	}
	if rss == 0 {
		return 0, 0, fmt.Errorf("/proc/%d/status has no VmRSS", pid)
	}
	return rss, hwm, sc.Err()
}

// loadAvg is the 1-, 5- and 15-minute load average, for the figures in docs/reliability.md.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
