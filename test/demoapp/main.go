// Command demoapp is the tiny app Seal's real-node tests and demo run in injected pods. It
// shows mutual TLS by SPIFFE ID with pkg/sealtls, from the files seal-init wrote:
//
//	demoapp serve --listen 127.0.0.1:8443          an HTTPS server that accepts only peers of its
//	                                               own workload, logging each authorized peer's
//	                                               SPIFFE ID and each refusal
//	demoapp call --addr 127.0.0.1:8443             calls the server every --interval, logging
//	                                               success (the server's SPIFFE ID) or failure
//	demoapp call --addr ... --any-server           skips checking the server, to show the server
//	                                               refusing a client of another workload
//	demoapp serve|call --workload-api ...          takes the identity from the SPIFFE Workload API
//	                                               (go-spiffe's X509Source and spiffetls) instead
//	                                               of the files
//	demoapp secret --name db-password              logs secrets/db-password whenever it changes
//	                                               (test values only)
//
// The identity directory is --dir, else $SEAL_DIR, else /var/run/seal.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/seal-dev/seal/pkg/sealtls"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stdout, nil))
	if len(os.Args) < 2 || (os.Args[1] != "serve" && os.Args[1] != "call" && os.Args[1] != "secret") {
		fmt.Fprintln(os.Stderr, "usage: demoapp serve|call|secret [flags] (-h for the flags)")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(ctx, log, os.Args[2:])
	case "secret":
		err = watchSecret(ctx, log, os.Args[2:])
	default:
		err = call(ctx, log, os.Args[2:])
	}
	if err != nil {
		log.Error("demoapp failed", "error", err)
		os.Exit(1)
	}
}

// load waits (up to wait) for the identity files: they are there before the app starts in an
// injected pod, so waiting only helps when run by hand.
func load(ctx context.Context, dir string, wait time.Duration) (*sealtls.Source, error) {
	deadline := time.Now().Add(wait)
	for {
		src, err := sealtls.Load(dir, sealtls.WithReloadInterval(time.Second))
		if err == nil || time.Now().After(deadline) {
			return src, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// appIdentity is the identity from the Workload API (api) or from the files in dir.
func appIdentity(ctx context.Context, dir string, api bool) (*identity, error) {
	if api {
		return workloadAPIIdentity(ctx)
	}
	src, err := load(ctx, dir, 30*time.Second)
	if err != nil {
		return nil, err
	}
	return &identity{
		id:     src.ID(),
		serial: func() string { return src.Certificate().Leaf.SerialNumber.String() },
		server: func() *tls.Config { return sealtls.ServerConfig(src, sealtls.AuthorizeSameWorkload()) },
		client: func(anyServer bool) *tls.Config {
			cfg := sealtls.ClientConfig(src, sealtls.AuthorizeSameWorkload())
			if anyServer {
				cfg.VerifyConnection = nil // InsecureSkipVerify stays: no check of the server at all
			}
			return cfg
		},
		close: func() {},
	}, nil
}

func serve(ctx context.Context, log *slog.Logger, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:8443", "address to serve mTLS on")
	dir := fs.String("dir", "", "identity directory (default $SEAL_DIR or /var/run/seal)")
	api := fs.Bool("workload-api", false, "take the identity from the SPIFFE Workload API ($SPIFFE_ENDPOINT_SOCKET)")
	_ = fs.Parse(args)
	id, err := appIdentity(ctx, *dir, *api)
	if err != nil {
		return err
	}
	defer id.close()
	cfg := id.server()
	// Log each refusal, whichever hook the config authorizes in (sealtls: VerifyConnection;
	// go-spiffe: VerifyPeerCertificate).
	if verify := cfg.VerifyConnection; verify != nil {
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			err := verify(cs)
			if err != nil {
				log.Warn("refused peer", "error", err)
			}
			return err
		}
	}
	if verify := cfg.VerifyPeerCertificate; verify != nil {
		cfg.VerifyPeerCertificate = func(raw [][]byte, chains [][]*x509.Certificate) error {
			err := verify(raw, chains)
			if err != nil {
				log.Warn("refused peer", "error", err)
			}
			return err
		}
	}
	srv := &http.Server{
		Addr:      *listen,
		TLSConfig: cfg,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			peer, _ := sealtls.PeerID(*r.TLS)
			log.Info("authorized peer", "peer", peer.String(), "serial", id.serial())
			fmt.Fprintf(w, "hello %s, this is %s\n", peer, id.id)
		}),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       30 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Info("serving mTLS", "addr", *listen, "id", id.id.String())
	if err := srv.ListenAndServeTLS("", ""); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func call(ctx context.Context, log *slog.Logger, args []string) error {
	fs := flag.NewFlagSet("call", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:8443", "server address")
	dir := fs.String("dir", "", "identity directory (default $SEAL_DIR or /var/run/seal)")
	interval := fs.Duration("interval", time.Second, "time between calls")
	count := fs.Int("count", 0, "stop after this many calls (0: until stopped)")
	anyServer := fs.Bool("any-server", false, "do not check the server's identity (to see the server refuse this client)")
	api := fs.Bool("workload-api", false, "take the identity from the SPIFFE Workload API ($SPIFFE_ENDPOINT_SOCKET)")
	_ = fs.Parse(args)
	id, err := appIdentity(ctx, *dir, *api)
	if err != nil {
		return err
	}
	defer id.close()
	cfg := id.client(*anyServer)
	// A new connection (and handshake) per call, so every call shows the current certificates.
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}}
	log.Info("calling", "addr", *addr, "id", id.id.String())
	for i := 1; *count == 0 || i <= *count; i++ {
		resp, err := client.Get("https://" + *addr + "/")
		if err == nil {
			body, rerr := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if rerr != nil {
				err = rerr
			} else {
				server, _ := sealtls.PeerID(*resp.TLS)
				log.Info("mTLS call succeeded", "server", server.String(), "serial", resp.TLS.PeerCertificates[0].SerialNumber.String(), "reply", string(body))
			}
		}
		if err != nil {
			log.Warn("mTLS call failed", "error", err)
		}
		if i == *count {
			break
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(*interval):
		}
	}
	return nil
}
