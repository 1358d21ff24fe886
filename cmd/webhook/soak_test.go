package main_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seal-dev/seal/internal/inject"
	"github.com/seal-dev/seal/internal/testing/testenv"
)

// BenchmarkProcessSoak sends b.N injection reviews (nine small pods to one 76 KB pod) from 32
// keep-alive HTTPS clients to the real seal-webhook process and reports its resident memory
// and goroutines before and after. Issue 17's goal: RSS ≤ 64 MiB after 1,000,000 reviews.
//
//	go test -run '^$' -bench ProcessSoak -benchtime 20000x ./cmd/webhook/   (the short form)
//	make soak-webhook                                                    (1,000,000, or SEAL_SOAK_REVIEWS)
func BenchmarkProcessSoak(b *testing.B) {
	env := testenv.Start(b, testenv.Options{NoControllerManager: true})
	ns := env.Namespace(b, map[string]string{inject.LabelInject: inject.NamespaceEnabled})
	p := startWebhook(b, env)
	small, large := reviewBody(ns), largeReviewBody(ns)
	send := func(i int64) error {
		body := small
		if i%10 == 9 {
			body = large
		}
		resp, err := p.client.Post(p.url+"/inject", "application/json", bytes.NewReader(body))
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	const clients = 32
	for i := range int64(2 * clients) { // open the connections
		if err := send(i); err != nil {
			b.Fatal(err)
		}
	}
	rss0, g0 := processRSS(b, p.cmd.Process.Pid), gauge(b, p, "go_goroutines")
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < int64(b.N); i = next.Add(1) - 1 {
				if err := send(i); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	p.client.CloseIdleConnections()
	time.Sleep(200 * time.Millisecond) // let the server's connection goroutines end
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "reviews/s")
	b.ReportMetric(rss0, "RSS-MiB-before")
	b.ReportMetric(processRSS(b, p.cmd.Process.Pid), "RSS-MiB-after")
	b.ReportMetric(g0, "goroutines-before")
	b.ReportMetric(gauge(b, p, "go_goroutines"), "goroutines-after")
	b.ReportMetric(gauge(b, p, "go_memstats_heap_inuse_bytes")/(1<<20), "heap-inuse-MiB-after")
}

// processRSS is the resident memory of process pid in MiB.
func processRSS(b *testing.B, pid int) float64 {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	b.Fatal("no VmRSS")
	return 0
}

// gauge is a gauge of the webhook's /metrics (go_goroutines, go_memstats_heap_inuse_bytes).
func gauge(b *testing.B, p *webhookProc, name string) float64 {
	resp, err := http.Get(p.metrics + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			n, _ := strconv.ParseFloat(v, 64)
			return n
		}
	}
	b.Fatal("/metrics lacks " + name)
	return 0
}
