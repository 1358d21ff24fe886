package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	var got atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.URL.Path != "/inject" || string(b) != `{"a":1}` || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "unexpected request", http.StatusBadRequest)
			return
		}
		got.Add(1)
		if r.URL.Query().Get("chunked") != "" {
			w.(http.Flusher).Flush() // no Content-Length: the answer is chunked
		}
		_, _ = w.Write([]byte(`{"response":{"allowed":true}}`))
	}))
	defer srv.Close()
	tlsCfg := srv.Client().Transport.(*http.Transport).TLSClientConfig

	for _, tc := range []struct {
		name, path        string
		conns, n, warm    int
		wantErr, wantFail string
	}{
		{name: "keep-alive", path: "/inject", conns: 4, n: 200, warm: 2},
		{name: "fewer requests than connections", path: "/inject", conns: 8, n: 3},
		{name: "chunked answers", path: "/inject?chunked=1", conns: 2, n: 20},
		{name: "answers that are not 200 are errors", path: "/other", conns: 2, n: 10, wantFail: "400 Bad Request"},
		{name: "plain http refused", path: "http://x/", conns: 1, n: 1, wantErr: "want https://host:port/path"},
		{name: "no connections", path: "/inject", conns: 0, n: 1, wantErr: "at least one connection"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got.Store(0)
			url := srv.URL + tc.path
			if strings.HasPrefix(tc.path, "http") {
				url = tc.path
			}
			warmed := false
			res, err := Run(context.Background(), Options{URL: url, Body: []byte(`{"a":1}`), ContentType: "application/json",
				Conns: tc.conns, Requests: tc.n, Warm: tc.warm, Timeout: 5 * time.Second, TLS: tlsCfg, Warmed: func() { warmed = true }})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !warmed {
				t.Error("Warmed was not called")
			}
			if tc.wantFail != "" {
				if res.Errors != tc.n || res.Requests != 0 || res.FirstErr == nil || !strings.Contains(res.FirstErr.Error(), tc.wantFail) {
					t.Fatalf("got %d answered, %d errors, first %v; want %d errors naming %q", res.Requests, res.Errors, res.FirstErr, tc.n, tc.wantFail)
				}
				return
			}
			if res.Requests != tc.n || res.Errors != 0 || len(res.Latencies) != tc.n {
				t.Fatalf("got %d answered, %d errors (%v), want %d answered", res.Requests, res.Errors, res.FirstErr, tc.n)
			}
			if want := int64(tc.n + tc.conns*tc.warm); got.Load() != want {
				t.Errorf("server saw %d requests, want %d (timed and warm-up)", got.Load(), want)
			}
			if p50, p99, slowest := res.Percentile(0.5), res.Percentile(0.99), res.Percentile(1); p50 <= 0 || p50 > p99 || p99 > slowest {
				t.Errorf("percentiles p50 %v p99 %v max %v are not ordered", p50, p99, slowest)
			}
			if res.PerSecond() <= 0 || res.CPU <= 0 {
				t.Errorf("PerSecond = %v, CPU = %v: want both above zero", res.PerSecond(), res.CPU)
			}
		})
	}
}
