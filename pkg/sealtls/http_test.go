package sealtls_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/seal-dev/seal/pkg/sealtls"
)

// TestHTTP runs the documented usage: an http.Server and an http.Client built from the configs,
// the handler reading the caller's ID with PeerID.
func TestHTTP(t *testing.T) {
	w := newWorld(t)
	payCA := certPEM(w.payCA.cert)
	server := load(t, w.dir(t, w.pod(t, w.payCA, wid(prodTD, "payments", "backend"), payCA, nil)))
	srv := &http.Server{
		TLSConfig:         sealtls.ServerConfig(server, sealtls.AuthorizePeers("frontend")),
		ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			id, err := sealtls.PeerID(*r.TLS)
			if err != nil {
				http.Error(rw, err.Error(), http.StatusInternalServerError)
				return
			}
			fmt.Fprintf(rw, "hello %s", id)
		}),
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.ServeTLS(l, "", "") }()
	t.Cleanup(func() {
		_ = srv.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("ServeTLS: %v", err)
		}
	})

	get := func(peer string) (string, error) {
		src := load(t, w.dir(t, w.pod(t, w.payCA, wid(prodTD, "payments", peer), payCA, nil)))
		tr := &http.Transport{TLSClientConfig: sealtls.ClientConfig(src, sealtls.AuthorizePeers("backend"))}
		defer tr.CloseIdleConnections()
		c := &http.Client{Timeout: 10 * time.Second, Transport: tr}
		resp, err := c.Get("https://" + l.Addr().String() + "/")
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	if got, err := get("frontend"); err != nil || got != "hello "+wid(prodTD, "payments", "frontend") {
		t.Errorf("frontend: got %q, %v; want a hello naming it", got, err)
	}
	if got, err := get("batch"); err == nil {
		t.Errorf("batch: got %q, %v; want a refused connection", got, err)
	}
}
