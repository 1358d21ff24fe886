package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/seal-dev/seal/internal/ca"
	"github.com/seal-dev/seal/internal/rot/rottest"
	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/testing/sniproxy"
	"github.com/seal-dev/seal/internal/testing/testenv"
	"github.com/seal-dev/seal/pkg/sealtls"
)

// fedClock is alpha's clock: the real time plus an offset the test moves forward to pass a
// refresh hint without waiting for it.
type fedClock struct{ off atomic.Int64 }

func (c *fedClock) Now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *fedClock) advance(d time.Duration) { c.off.Store(int64(d)) }

// fedROT is what the helpers need of a ROT: its URL and admin directory.
type fedROT interface {
	url() string
	admin() string
}

type rottestROT struct{ *rottest.ROT }

func (r rottestROT) url() string   { return r.URL }
func (r rottestROT) admin() string { return r.AdminDir }

func asROT(r any) fedROT {
	switch x := r.(type) {
	case *rottest.ROT:
		return rottestROT{x}
	case fedROT:
		return x
	}
	panic(fmt.Sprintf("not a ROT: %T", r))
}

// fedTools are the real sealctl and seal-init binaries.
type fedTools struct{ sealctlBin, initBin string }

func fedBuild(t *testing.T) fedTools {
	return fedTools{sealctlBin: testenv.Binary(t, "./cmd/sealctl"), initBin: testenv.Binary(t, "./cmd/init")}
}

// sealctl runs the real sealctl against the ROT r and returns its stdout.
func (f fedTools) sealctl(t *testing.T, r any, args ...string) []byte {
	t.Helper()
	rr := asROT(r)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, f.sealctlBin, append([]string{"--rot", rr.url(), "--admin", rr.admin()}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sealctl %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

func (f fedTools) export(t *testing.T, r any) []byte {
	t.Helper()
	return f.sealctl(t, r, "bundle", "export")
}

// importBundle imports doc as td's bundle into r, with an https_spiffe endpoint unless endpoint
// is empty (air gap).
func (f fedTools) importBundle(t *testing.T, r any, td string, doc []byte, endpoint string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), td+".json")
	if err := os.WriteFile(file, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"bundle", "import", "--trust-domain", td, file}
	if endpoint != "" {
		args = append(args, "--bundle-endpoint-url", endpoint, "--endpoint-profile", "https_spiffe",
			"--endpoint-spiffe-id", "spiffe://"+td+"/seal/rot")
	}
	f.sealctl(t, r, args...)
}

// bundle is td's entry in sealctl bundle list -o json.
func (f fedTools) bundle(t *testing.T, r any, td string) rotapi.FederatedBundle {
	t.Helper()
	var list []rotapi.FederatedBundle
	if err := json.Unmarshal(f.sealctl(t, r, "bundle", "list", "-o", "json"), &list); err != nil {
		t.Fatalf("sealctl bundle list -o json: %v", err)
	}
	for _, b := range list {
		if b.TrustDomain == td {
			return b
		}
	}
	t.Fatalf("sealctl bundle list has no %s: %+v", td, list)
	return rotapi.FederatedBundle{}
}

func (f fedTools) egg(t *testing.T, r any, workload, peer string) string {
	t.Helper()
	return strings.TrimSpace(string(f.sealctl(t, r, "egg", "mint", workload, "--peer", peer)))
}

// pod runs the real seal-init with egg, asking for td's bundle, and returns the directory it
// wrote (dir[0] when given: a renewal into an existing pod directory).
func (f fedTools) pod(t *testing.T, egg, td string, dir ...string) string {
	t.Helper()
	out := t.TempDir()
	if len(dir) > 0 {
		out = dir[0]
	}
	eggFile := filepath.Join(t.TempDir(), "egg")
	if err := os.WriteFile(eggFile, []byte(egg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, f.initBin, "--egg-file", eggFile, "--out", out, "--federates-with", td, "--timeout", "30s")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "SEAL_TERMINATION_LOG=" + filepath.Join(out, "no-termination-log")}
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("seal-init: %v\n%s", err, b)
	}
	return out
}

// fedBundleOf reads td's bundle from r's admin API (for polling without a process each time).
func fedBundleOf(t *testing.T, r *rottest.ROT, td string) rotapi.FederatedBundle {
	t.Helper()
	var list []rotapi.FederatedBundle
	if err := r.Admin.Do(fedCtx(t), http.MethodGet, rotapi.PathBundles, nil, &list); err != nil {
		t.Fatal(err)
	}
	for _, b := range list {
		if b.TrustDomain == td {
			return b
		}
	}
	t.Fatalf("no bundle of %s", td)
	return rotapi.FederatedBundle{}
}

func fedAuthorities(t *testing.T, b rotapi.FederatedBundle) int {
	t.Helper()
	sb, err := spiffebundle.Parse(spiffeid.RequireTrustDomainFromString(b.TrustDomain), []byte(b.Bundle))
	if err != nil {
		t.Fatalf("bundle of %s: %v", b.TrustDomain, err)
	}
	return len(sb.X509Authorities())
}

func fedPEMCerts(t *testing.T, file string) []*x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := ca.ParseCerts(b)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return certs
}

func fedLoad(t *testing.T, dir string) *sealtls.Source {
	t.Helper()
	src, err := sealtls.Load(dir, sealtls.WithReloadInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func fedCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func hostPort(u string) string { return strings.TrimPrefix(u, "https://") }

// fedServer is a pod's mTLS server: each connection is handshaken and, on success, answered
// with "ok"; results carries the client's SPIFFE ID or the server's refusal.
type fedServer struct {
	addr    string
	results chan fedResult
}

type fedResult struct {
	peer spiffeid.ID
	err  error
}

func fedServe(t *testing.T, src *sealtls.Source, authz sealtls.Authorizer) *fedServer {
	t.Helper()
	cfg := sealtls.ServerConfig(src, authz)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fedServer{addr: l.Addr().String(), results: make(chan fedResult, 16)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			tc := tls.Server(c, cfg)
			_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
			var r fedResult
			if r.err = tc.Handshake(); r.err == nil {
				r.peer, r.err = sealtls.PeerID(tc.ConnectionState())
				_, _ = io.WriteString(tc, "ok")
			}
			_ = tc.Close()
			s.results <- r
		}
	}()
	t.Cleanup(func() { _ = l.Close(); <-done })
	return s
}

// fedCase is one connection from a pod (its seal-init directory) to a fedServer, directly or
// through the SNI router with the route host as SNI.
type fedCase struct {
	name        string
	client      string
	authz       sealtls.Authorizer
	srv         *fedServer
	route       string
	router      *sniproxy.Proxy
	wantServer  string // SPIFFE IDs each side sees when the connection is accepted
	wantClient  string
	wantRefusal string // else: the server's refusal mentions this
}

func (c fedCase) run(t *testing.T) {
	t.Helper()
	addr := c.srv.addr
	var opts []sealtls.Option
	if c.route != "" {
		addr = c.router.Addr()
		opts = append(opts, sealtls.WithServerName(c.route))
	}
	serverID, cerr := fedDial(addr, sealtls.ClientConfig(fedLoad(t, c.client), c.authz, opts...))
	var res fedResult
	select {
	case res = <-c.srv.results:
	case <-time.After(15 * time.Second):
		t.Fatalf("the server saw no connection; client: %v", cerr)
	}
	if c.wantRefusal != "" {
		if cerr == nil {
			t.Errorf("the client got an answer; want the server to refuse it")
		}
		if res.err == nil || !strings.Contains(res.err.Error(), c.wantRefusal) {
			t.Errorf("server: %v; want a refusal mentioning %q", res.err, c.wantRefusal)
		}
		return
	}
	if cerr != nil || res.err != nil {
		t.Fatalf("mTLS failed: client: %v; server: %v", cerr, res.err)
	}
	if serverID != c.wantServer || res.peer.String() != c.wantClient {
		t.Errorf("client saw %s, server saw %s; want %s and %s", serverID, res.peer, c.wantServer, c.wantClient)
	}
}

// fedDial connects with cfg and waits for the server's "ok", so a client certificate the
// server refuses after a TLS 1.3 handshake fails here too. It returns the server's SPIFFE ID.
func fedDial(addr string, cfg *tls.Config) (string, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, make([]byte, 2)); err != nil {
		return "", err
	}
	id, err := sealtls.PeerID(c.ConnectionState())
	return id.String(), err
}

// fedBadEndpoint serves h over TLS with r's own serving certificate (so it passes the
// https_spiffe check for r's trust domain) and returns its address.
func fedBadEndpoint(t *testing.T, r *rottest.ROT, h http.HandlerFunc) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, TLSConfig: r.Server.TLSConfig(), ReadHeaderTimeout: 5 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(tls.NewListener(l, srv.TLSConfig)) }()
	t.Cleanup(func() { _ = srv.Close(); <-done })
	return l.Addr().String()
}

// fedROTProc is a real seal-rot serve process with a state directory.
type fedROTProc struct {
	td, u, adminDir string
	cmd             *exec.Cmd
	log             *testenv.LogBuffer
	done            chan error
}

func (r *fedROTProc) url() string   { return r.u }
func (r *fedROTProc) admin() string { return r.adminDir }

// fedStartROT runs seal-rot serve for td on a free loopback port and waits until it is ready.
func fedStartROT(t *testing.T, td string) *fedROTProc {
	t.Helper()
	bin := testenv.Binary(t, "./cmd/rot")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	state := t.TempDir()
	r := &fedROTProc{td: td, u: "https://" + addr, adminDir: filepath.Join(state, "admin"), log: &testenv.LogBuffer{}, done: make(chan error, 1)}
	r.cmd = exec.Command(bin, "serve", "--state-dir", state, "--listen", addr, "--trust-domain", td)
	r.cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	r.cmd.Stderr = r.log
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.done <- r.cmd.Wait() }()
	t.Cleanup(func() { r.stop(t) })
	testenv.Eventually(t, 30*time.Second, func() error {
		select {
		case err := <-r.done:
			r.done <- err
			t.Fatalf("seal-rot %s exited (%v):\n%s", td, err, r.log)
		default:
		}
		caPEM, err := os.ReadFile(filepath.Join(r.adminDir, "ca.crt"))
		if err != nil {
			return err
		}
		c, err := rotapi.NewClient(r.u, caPEM, nil)
		if err != nil {
			return err
		}
		defer c.HTTP.CloseIdleConnections()
		return c.Do(context.Background(), http.MethodGet, rotapi.PathReadyz, nil, nil)
	})
	return r
}

// stop ends seal-rot with SIGTERM and waits for it.
func (r *fedROTProc) stop(t *testing.T) {
	select {
	case err := <-r.done:
		r.done <- err
		return
	default:
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-r.done:
		r.done <- err
		if err != nil {
			t.Errorf("seal-rot %s: %v\n%s", r.td, err, r.log)
		}
	case <-time.After(20 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.done
		t.Errorf("seal-rot %s did not stop on SIGTERM:\n%s", r.td, r.log)
	}
}
