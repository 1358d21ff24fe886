package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Options is one run: Requests POSTs of Body to URL over Conns keep-alive HTTPS connections,
// each connection sending its next request when the answer to the last one has been read
// (closed loop, the way wrk and hey measure).
type Options struct {
	URL         string
	Body        []byte
	ContentType string
	Conns       int
	Requests    int
	Warm        int           // requests per connection before the clock starts
	Timeout     time.Duration // per request
	TLS         *tls.Config
	Warmed      func() // called when every connection is warm and the clock starts
}

// Result is what a run measured. Latencies are sorted.
type Result struct {
	Requests  int
	Errors    int
	FirstErr  error
	Elapsed   time.Duration
	CPU       time.Duration // this process's CPU time while the timed requests ran
	Latencies []time.Duration
}

// PerSecond is the throughput of the measured requests.
func (r Result) PerSecond() float64 { return float64(r.Requests) / r.Elapsed.Seconds() }

// Percentile is the latency below which a fraction q of the requests answered.
func (r Result) Percentile(q float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	return r.Latencies[int(q*float64(len(r.Latencies)-1))]
}

// Run dials every connection, warms it, then sends the requests and times each one.
func Run(ctx context.Context, o Options) (Result, error) {
	u, err := url.Parse(o.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return Result{}, fmt.Errorf("loadgen: -url %q: want https://host:port/path", o.URL)
	}
	if o.Conns < 1 || o.Requests < 1 {
		return Result{}, fmt.Errorf("loadgen: want at least one connection and one request, got -c %d -n %d", o.Conns, o.Requests)
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	// The whole request is built once and written with one Write: the generator spends its
	// CPU on TLS, not on building requests, so the server gets the machine.
	req := fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n",
		u.RequestURI(), u.Host, o.ContentType, len(o.Body))
	req = append(req, o.Body...)
	conns := make([]*conn, o.Conns)
	defer func() { // the ones redialled after a failure too
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	for i := range conns {
		c, err := dial(ctx, u.Host, o.TLS, o.Timeout)
		if err != nil {
			return Result{}, err
		}
		conns[i] = c
		for range o.Warm {
			if _, err := c.do(req, o.Timeout); err != nil {
				return Result{}, fmt.Errorf("loadgen: warming: %w", err)
			}
		}
	}
	if o.Warmed != nil {
		o.Warmed()
	}
	lat := make([]time.Duration, o.Requests)
	var next, failed atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	start, cpu0 := time.Now(), cpuTime()
	for i := range conns {
		wg.Go(func() {
			for n := next.Add(1) - 1; n < int64(o.Requests) && ctx.Err() == nil; n = next.Add(1) - 1 {
				d, err := conns[i].do(req, o.Timeout)
				if err != nil {
					failed.Add(1)
					once.Do(func() { firstErr = err })
					conns[i].Close() // the server may have closed it
					if conns[i], err = dial(ctx, u.Host, o.TLS, o.Timeout); err != nil {
						conns[i] = nil
						return
					}
					continue
				}
				lat[n] = d
			}
		})
	}
	wg.Wait()
	elapsed, cpu := time.Since(start), cpuTime()-cpu0
	done := slices.DeleteFunc(lat, func(d time.Duration) bool { return d == 0 })
	slices.Sort(done)
	return Result{Requests: len(done), Errors: int(failed.Load()), FirstErr: firstErr, Elapsed: elapsed, CPU: cpu, Latencies: done}, ctx.Err()
}

// conn is one keep-alive connection.
type conn struct {
	*tls.Conn
	r *bufio.Reader
}

func dial(ctx context.Context, host string, cfg *tls.Config, timeout time.Duration) (*conn, error) {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: timeout}, Config: cfg}
	c, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	return &conn{Conn: c.(*tls.Conn), r: bufio.NewReaderSize(c, 64<<10)}, nil
}

var errStatus = errors.New("loadgen: answer is not 200 OK")

// do sends one request and reads the whole answer.
func (c *conn) do(req []byte, timeout time.Duration) (time.Duration, error) {
	t0 := time.Now()
	if err := c.SetDeadline(t0.Add(timeout)); err != nil {
		return 0, err
	}
	if _, err := c.Write(req); err != nil {
		return 0, fmt.Errorf("loadgen: %w", err)
	}
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return 0, fmt.Errorf("loadgen: %w", err)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, fmt.Errorf("loadgen: reading the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%w: %s", errStatus, resp.Status)
	}
	if resp.Close {
		return 0, errors.New("loadgen: the server closed the connection")
	}
	return max(time.Since(t0), 1), nil
}

// cpuTime is the user+system CPU time of this process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
