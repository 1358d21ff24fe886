package main_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/testing/testenv"
)

// BenchmarkProcessRedeem runs redemptions against the real seal-rot process and reports its
// resident memory afterwards (goal: under 80 MiB after 100,000 redemptions; run with
// -bench ProcessRedeem -benchtime 100000x).
func BenchmarkProcessRedeem(b *testing.B) {
	bin := testenv.Binary(b, "./cmd/rot")
	state := filepath.Join(b.TempDir(), "state")
	addr := freeAddrB(b)
	p := startB(b, bin, "serve", "--state-dir", state, "--listen", addr, "--trust-domain", "bench.seal.dev", "--log-level", "error")
	c := waitAdmin(b, addr, filepath.Join(state, "admin"))
	ctx := context.Background()
	if err := c.Do(ctx, http.MethodPost, rotapi.PathWorkloads, rotapi.Workload{Name: "w"}, nil); err != nil {
		b.Fatal(err)
	}
	var m rotapi.MintResponse
	if err := c.Do(ctx, http.MethodPost, rotapi.Path(rotapi.PathEggs, "w"), rotapi.MintRequest{}, &m); err != nil {
		b.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	req := &rotapi.RedeemRequest{Egg: m.Egg, CSR: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))}
	caPEM, _ := os.ReadFile(filepath.Join(state, "admin", "ca.crt"))
	pod, _ := rotapi.NewClient("https://"+addr, caPEM, nil)
	defer pod.HTTP.CloseIdleConnections()
	b.SetParallelism(4)
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := pod.Redeem(ctx, req); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "redemptions/s")
	b.ReportMetric(rssMiB(b, p.Process.Pid), "rss-MiB")
	_ = p.Process.Signal(syscall.SIGTERM)
}

func rssMiB(b *testing.B, pid int) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return float64(kb) / 1024
		}
	}
	b.Fatal("no VmRSS")
	return 0
}

func startB(b *testing.B, bin string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	b.Cleanup(func() {
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return cmd
}

func waitAdmin(b *testing.B, addr, adminDir string) *rotapi.Client {
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := tryClient(addr, adminDir)
		if err == nil {
			if err = c.Do(context.Background(), http.MethodGet, rotapi.PathReadyz, nil, nil); err == nil {
				b.Cleanup(c.HTTP.CloseIdleConnections)
				return c
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("seal-rot not ready: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
