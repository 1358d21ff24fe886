// Command loadgen measures an admission webhook (or any HTTPS endpoint taking a POST) the way
// issue 17 compares Seal with other injectors: -c keep-alive HTTPS/1.1 connections, each sending
// the same body again as soon as the last answer is read, -n requests in all. It prints "warm"
// when the connections are dialled and warmed and the timed requests start, then one JSON line:
// requests, errors, seconds, per second and latency percentiles in milliseconds.
//
// It is lean on purpose (one goroutine and one Write per request), so that on a small machine
// the server under test, not the generator, gets the CPU. The benchmarks of cmd/webhook and
// internal/webhook run it as a separate process; to compare with another injector, run it
// against that injector's /mutate path with the same bodies:
//
//	go run ./hack/loadgen -url https://127.0.0.1:8443/inject -cacert ca.crt -body review.json -c 32 -n 100000
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"
)

func main() {
	target := flag.String("url", "", "https://host:port/path to POST to")
	bodyFile := flag.String("body", "-", "file holding the request body (- for standard input)")
	ctype := flag.String("content-type", "application/json", "Content-Type of the requests")
	conns := flag.Int("c", 32, "keep-alive connections, each with one request in flight")
	n := flag.Int("n", 10000, "requests to time, over all connections")
	warm := flag.Int("warm", 2, "untimed requests per connection before the clock starts")
	caFile := flag.String("cacert", "", "PEM file of the CA that signed the server's certificate (empty: the system roots)")
	timeout := flag.Duration("timeout", 10*time.Second, "deadline for each request")
	flag.Parse()
	if err := run(*target, *bodyFile, *ctype, *caFile, *conns, *n, *warm, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// Report is the JSON line loadgen prints (internal/testing/testenv decodes it).
type Report struct {
	Requests  int     `json:"requests"`
	Errors    int     `json:"errors"`
	FirstErr  string  `json:"firstError,omitempty"`
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"perSecond"`
	P50Ms     float64 `json:"p50Ms"`
	P90Ms     float64 `json:"p90Ms"`
	P99Ms     float64 `json:"p99Ms"`
	MaxMs     float64 `json:"maxMs"`
	// CPUMicrosPerRequest is loadgen's own CPU time per timed request: what the generator
	// took from a machine it shares with the server.
	CPUMicrosPerRequest float64 `json:"cpuMicrosPerRequest"`
}

func run(target, bodyFile, ctype, caFile string, conns, n, warm int, timeout time.Duration) error {
	var body []byte
	var err error
	if bodyFile == "-" {
		body, err = io.ReadAll(os.Stdin)
	} else {
		body, err = os.ReadFile(bodyFile)
	}
	if err != nil {
		return fmt.Errorf("loadgen: -body: %w", err)
	}
	cfg := &tls.Config{}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return fmt.Errorf("loadgen: -cacert: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return fmt.Errorf("loadgen: -cacert %s: no PEM certificate in it", caFile)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := Run(ctx, Options{URL: target, Body: body, ContentType: ctype, Conns: conns, Requests: n, Warm: warm, Timeout: timeout, TLS: cfg,
		Warmed: func() { fmt.Println("warm") }})
	if err != nil {
		return err
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	rep := Report{Requests: res.Requests, Errors: res.Errors, Seconds: res.Elapsed.Seconds(), PerSecond: res.PerSecond(),
		P50Ms: ms(res.Percentile(0.50)), P90Ms: ms(res.Percentile(0.90)), P99Ms: ms(res.Percentile(0.99)), MaxMs: ms(res.Percentile(1))}
	if res.Requests > 0 {
		rep.CPUMicrosPerRequest = float64(res.CPU.Microseconds()) / float64(res.Requests)
	}
	if res.FirstErr != nil {
		rep.FirstErr = res.FirstErr.Error()
	}
	return json.NewEncoder(os.Stdout).Encode(rep)
}
