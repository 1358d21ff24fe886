package sealtls_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/seal-dev/seal/internal/testing/sniproxy"
	"github.com/seal-dev/seal/pkg/sealtls"
)

// serverResult is what a test server saw of one connection.
type serverResult struct {
	peer spiffeid.ID
	err  error
}

// startServer serves cfg on loopback until the test ends: each connection is handshaken, and
// on success the server writes "ok" and reports the client's SPIFFE ID.
func startServer(t *testing.T, cfg *tls.Config) (addr string, results <-chan serverResult) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan serverResult, 16)
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
			var r serverResult
			if r.err = tc.Handshake(); r.err == nil {
				r.peer, r.err = sealtls.PeerID(tc.ConnectionState())
				_, _ = io.WriteString(tc, "ok")
			}
			_ = tc.Close()
			ch <- r
		}
	}()
	t.Cleanup(func() { _ = l.Close(); <-done })
	return l.Addr().String(), ch
}

// dial connects with cfg and waits for the server's "ok", so a client certificate the server
// refuses after a TLS 1.3 handshake also fails here. It returns the server's leaf.
func dial(addr string, cfg *tls.Config) (*x509.Certificate, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 2)
	if _, err := io.ReadFull(c, buf); err != nil {
		return nil, err
	}
	return c.ConnectionState().PeerCertificates[0], nil
}

func load(t *testing.T, dir string) *sealtls.Source {
	t.Helper()
	src, err := sealtls.Load(dir, sealtls.WithReloadInterval(0))
	if err != nil {
		t.Fatalf("Load(%s): %v", dir, err)
	}
	return src
}

func TestMutualTLS(t *testing.T) {
	w := newWorld(t)
	payCA, partnerBundle := certPEM(w.payCA.cert), map[string][]byte{partnerTD: certPEM(w.partnerRoot.cert)}
	prodBundle := map[string][]byte{prodTD: certPEM(w.prodRoot.cert)}
	payPod := func(peer string, opts ...leafOpt) podFiles {
		return w.pod(t, w.payCA, wid(prodTD, "payments", peer), payCA, partnerBundle, opts...)
	}
	backend := payPod("backend")
	backendNoFed := w.pod(t, w.payCA, wid(prodTD, "payments", "backend"), payCA, nil)
	// A payments server that trusts every workload of its trust domain (ROT CA in ca.crt), so
	// only the Authorizer keeps other workloads out.
	backendRootTrust := w.pod(t, w.payCA, wid(prodTD, "payments", "backend"), certPEM(w.prodRoot.cert), nil)
	billing := w.pod(t, w.billCA, wid(partnerTD, "billing", "api"), certPEM(w.billCA.cert), prodBundle)

	federated := sealtls.AnyOf(sealtls.AuthorizeSameWorkload(), sealtls.AuthorizeWorkload(partnerTD, "billing"))
	tests := []struct {
		name         string
		server       podFiles
		serverAuthz  sealtls.Authorizer
		client       podFiles
		clientAuthz  sealtls.Authorizer
		wantPeer     string // the client ID the server sees; "" when refused
		wantErrMatch string // part of the server's (or else the client's) error
	}{
		{"same workload peers", backend, sealtls.AuthorizeSameWorkload(), payPod("frontend"), sealtls.AuthorizeSameWorkload(), wid(prodTD, "payments", "frontend"), ""},
		{"allowed peer", backend, sealtls.AuthorizePeers("frontend", "batch"), payPod("frontend"), sealtls.AuthorizePeers("backend"), wid(prodTD, "payments", "frontend"), ""},
		{"wrong peer", backend, sealtls.AuthorizePeers("frontend"), payPod("batch"), sealtls.AuthorizeSameWorkload(), "", "is not peer frontend"},
		{"server is wrong peer for client", backend, sealtls.AuthorizeSameWorkload(), payPod("frontend"), sealtls.AuthorizePeers("db"), "", "is not peer db"},
		{"exact ID", backend, sealtls.AuthorizeID(wid(prodTD, "payments", "frontend")), payPod("frontend"), sealtls.AuthorizeSameWorkload(), wid(prodTD, "payments", "frontend"), ""},
		{"wrong workload, CA not trusted", backend, sealtls.AuthorizeAny(),
			w.pod(t, w.ordCA, wid(prodTD, "orders", "api"), certPEM(w.prodRoot.cert), nil), sealtls.AuthorizeAny(), "", "does not verify"},
		{"wrong workload, CA trusted, authorizer refuses", backendRootTrust, sealtls.AuthorizeSameWorkload(),
			w.pod(t, w.ordCA, wid(prodTD, "orders", "api"), certPEM(w.prodRoot.cert), nil), sealtls.AuthorizeAny(), "", `is not in workload "payments"`},
		{"federated peer with bundle", backend, federated, billing, sealtls.AuthorizeWorkload(prodTD, "payments", "backend"), wid(partnerTD, "billing", "api"), ""},
		{"federated peer without bundle", backendNoFed, federated, billing, sealtls.AuthorizeAny(), "", "trust domain partner.example.net is not trusted"},
		{"federated peer not authorized", backend, sealtls.AuthorizeSameWorkload(), billing, sealtls.AuthorizeAny(), "", `is not in workload "payments"`},
		{"federated CA cannot vouch for own trust domain", backend, sealtls.AuthorizeAny(),
			w.pod(t, w.billCA, wid(prodTD, "payments", "frontend"), certPEM(w.billCA.cert), prodBundle), sealtls.AuthorizeAny(), "", "does not verify"},
		{"untrusted CA with a correct-looking ID", backend, sealtls.AuthorizeSameWorkload(),
			w.pod(t, w.roguePayCA, wid(prodTD, "payments", "frontend"), payCA, nil), sealtls.AuthorizeAny(), "", "does not verify"},
		{"client cert without client-auth EKU", backend, sealtls.AuthorizeSameWorkload(),
			payPod("frontend", withEKU(x509.ExtKeyUsageServerAuth)), sealtls.AuthorizeSameWorkload(), "", "does not verify"},
		{"expired client cert", backend, sealtls.AuthorizeSameWorkload(),
			payPod("frontend", withNotAfter(time.Now().Add(-time.Minute))), sealtls.AuthorizeSameWorkload(), "", "expired"},
		{"ROT-style non-workload ID refused by workload authorizers", backend, sealtls.AuthorizeSameWorkload(),
			w.pod(t, w.payCA, "spiffe://"+prodTD+"/seal/rot", payCA, nil), sealtls.AuthorizeAny(), "", "not a Seal workload ID"},
		{"invalid ID in AuthorizeID refuses all", backend, sealtls.AuthorizeID("not a spiffe id"), payPod("frontend"), sealtls.AuthorizeAny(), "", `AuthorizeID: "not a spiffe id"`},
		{"nil authorizer refuses", backend, nil, payPod("frontend"), sealtls.AuthorizeAny(), "", "no Authorizer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, results := startServer(t, sealtls.ServerConfig(load(t, w.dir(t, tt.server)), tt.serverAuthz))
			_, cliErr := dial(addr, sealtls.ClientConfig(load(t, w.dir(t, tt.client)), tt.clientAuthz))
			var srv serverResult
			select {
			case srv = <-results:
			case <-time.After(10 * time.Second):
				// The client refused the server before the server finished: no result needed.
				srv.err = errors.New("server saw no connection")
			}
			if tt.wantPeer != "" {
				if cliErr != nil || srv.err != nil {
					t.Fatalf("handshake failed: client: %v; server: %v", cliErr, srv.err)
				}
				if got := srv.peer.String(); got != tt.wantPeer {
					t.Errorf("server saw peer %s, want %s", got, tt.wantPeer)
				}
				return
			}
			if cliErr == nil {
				t.Fatalf("client connected, want refusal matching %q (server: %v)", tt.wantErrMatch, srv.err)
			}
			if !strings.Contains(errString(srv.err)+" | "+errString(cliErr), tt.wantErrMatch) {
				t.Errorf("errors = server: %v | client: %v; want one containing %q", srv.err, cliErr, tt.wantErrMatch)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestThroughPassthroughProxy runs mTLS through an SNI-routing proxy that forwards raw bytes
// as an OpenShift router does for passthrough Routes: the SNI picks the backend, the SPIFFE ID
// decides trust.
func TestThroughPassthroughProxy(t *testing.T) {
	w := newWorld(t)
	payCA := certPEM(w.payCA.cert)
	prodBundle := map[string][]byte{prodTD: certPEM(w.prodRoot.cert)}
	payments := w.dir(t, w.pod(t, w.payCA, wid(prodTD, "payments", "api"), payCA, map[string][]byte{partnerTD: certPEM(w.partnerRoot.cert)}))
	orders := w.dir(t, w.pod(t, w.ordCA, wid(prodTD, "orders", "api"), certPEM(w.ordCA.cert), map[string][]byte{partnerTD: certPEM(w.partnerRoot.cert)}))
	billing := load(t, w.dir(t, w.pod(t, w.billCA, wid(partnerTD, "billing", "api"), certPEM(w.billCA.cert), prodBundle)))

	allowBilling := sealtls.AuthorizeWorkload(partnerTD, "billing")
	payAddr, payResults := startServer(t, sealtls.ServerConfig(load(t, payments), allowBilling))
	ordAddr, _ := startServer(t, sealtls.ServerConfig(load(t, orders), allowBilling))
	proxy, err := sniproxy.Listen("127.0.0.1:0", map[string]string{
		"payments.apps.example.com": payAddr,
		"orders.apps.example.com":   ordAddr,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proxy.Close() })

	wantServer := sealtls.AuthorizeWorkload(prodTD, "payments")
	leaf, err := dial(proxy.Addr(), sealtls.ClientConfig(billing, wantServer, sealtls.WithServerName("payments.apps.example.com")))
	if err != nil {
		t.Fatalf("mTLS through the proxy: %v", err)
	}
	if got := leaf.URIs[0].String(); got != wid(prodTD, "payments", "api") {
		t.Errorf("server identity = %s, want payments/api", got)
	}
	if r := <-payResults; r.err != nil || r.peer.String() != wid(partnerTD, "billing", "api") {
		t.Errorf("payments saw %v, %v; want billing/api", r.peer, r.err)
	}

	// The route host names no identity: a router sending payments' host to the orders
	// workload is caught by the client's SPIFFE ID check.
	proxy.SetRoute("payments.apps.example.com", ordAddr)
	_, err = dial(proxy.Addr(), sealtls.ClientConfig(billing, wantServer, sealtls.WithServerName("payments.apps.example.com")))
	if err == nil || !strings.Contains(err.Error(), `is not workload "payments"`) {
		t.Fatalf("misrouted connection: err = %v, want refusal of the orders identity", err)
	}
}

func TestReloadAfterSwap(t *testing.T) {
	w := newWorld(t)
	payCA := certPEM(w.payCA.cert)
	dir := t.TempDir()
	v1 := w.pod(t, w.payCA, wid(prodTD, "payments", "backend"), payCA, nil)
	writePod(t, dir, v1)
	src := load(t, dir)
	lazy, err := sealtls.Load(dir, sealtls.WithReloadInterval(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := startServer(t, sealtls.ServerConfig(src, sealtls.AuthorizeSameWorkload()))
	lazyAddr, _ := startServer(t, sealtls.ServerConfig(lazy, sealtls.AuthorizeSameWorkload()))
	client := sealtls.ClientConfig(load(t, w.dir(t, w.pod(t, w.payCA, wid(prodTD, "payments", "frontend"), payCA, nil))), sealtls.AuthorizeSameWorkload())

	serverSerial := func(addr string) string {
		t.Helper()
		leaf, err := dial(addr, client)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		return leaf.SerialNumber.String()
	}
	if got, want := serverSerial(addr), v1.leaf.SerialNumber.String(); got != want {
		t.Fatalf("server cert serial = %s, want %s", got, want)
	}

	v2 := w.pod(t, w.payCA, wid(prodTD, "payments", "backend"), payCA, nil)
	writePod(t, dir, v2)
	if got, want := serverSerial(addr), v2.leaf.SerialNumber.String(); got != want {
		t.Errorf("after the ..data swap the server presents serial %s, want the renewed %s", got, want)
	}
	if got, want := serverSerial(lazyAddr), v1.leaf.SerialNumber.String(); got != want {
		t.Errorf("with a 1h reload interval the server presents %s, want still %s", got, want)
	}
	if err := lazy.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if got, want := serverSerial(lazyAddr), v2.leaf.SerialNumber.String(); got != want {
		t.Errorf("after Reload the server presents %s, want %s", got, want)
	}

	// A broken set (key of another certificate) is refused and the last good one kept.
	broken := w.pod(t, w.payCA, wid(prodTD, "payments", "backend"), payCA, nil)
	broken.key = v1.key
	writePod(t, dir, broken)
	if err := src.Reload(); err == nil || !strings.Contains(err.Error(), "tls.crt and tls.key") {
		t.Errorf("Reload of a mismatched key pair: err = %v, want a key pair error", err)
	}
	if got, want := serverSerial(addr), v2.leaf.SerialNumber.String(); got != want {
		t.Errorf("after a failed reload the server presents %s, want the last good %s", got, want)
	}

	// The federated bundle appears with a later renewal.
	v3 := w.pod(t, w.payCA, wid(prodTD, "payments", "backend"), payCA, map[string][]byte{partnerTD: certPEM(w.partnerRoot.cert)})
	writePod(t, dir, v3)
	srv := sealtls.ServerConfig(src, sealtls.AuthorizeWorkload(partnerTD, "billing"))
	fedAddr, _ := startServer(t, srv)
	billing := load(t, w.dir(t, w.pod(t, w.billCA, wid(partnerTD, "billing", "api"), certPEM(w.billCA.cert), map[string][]byte{prodTD: certPEM(w.prodRoot.cert)})))
	if _, err := dial(fedAddr, sealtls.ClientConfig(billing, sealtls.AuthorizeAny())); err != nil {
		t.Errorf("federated client after the bundle appeared: %v", err)
	}
}

func TestLoadErrors(t *testing.T) {
	w := newWorld(t)
	payCA := certPEM(w.payCA.cert)
	good := func() podFiles { return w.pod(t, w.payCA, wid(prodTD, "payments", "a"), payCA, nil) }
	tests := []struct {
		name    string
		mutate  func(*podFiles)
		wantErr string
	}{
		{"key of another cert", func(p *podFiles) { p.key = good().key }, "tls.crt and tls.key"},
		{"no SPIFFE ID", func(p *podFiles) { *p = w.pod(t, w.payCA, wid(prodTD, "payments", "a"), payCA, nil, withoutURI()) }, "no URI SAN"},
		{"empty ca.crt", func(p *podFiles) { p.ca = nil }, "ca.crt: no PEM certificate"},
		{"garbage bundle", func(p *podFiles) { p.bundles = map[string][]byte{partnerTD: []byte("garbage")} }, "partner.example.net.pem: no PEM certificate"},
		{"bundle file not named for a trust domain", func(p *podFiles) { p.bundles = map[string][]byte{"Not_A_TD": payCA} }, "not <trust-domain>.pem"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := good()
			tt.mutate(&p)
			_, err := sealtls.Load(w.dir(t, p))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Load: err = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
	if _, err := sealtls.Load(t.TempDir()); err == nil || !strings.Contains(err.Error(), "tls.crt") {
		t.Errorf("Load of an empty dir: err = %v, want one naming tls.crt", err)
	}
	t.Setenv("SEAL_DIR", w.dir(t, good()))
	src, err := sealtls.Load("")
	if err != nil {
		t.Fatalf("Load(\"\") with SEAL_DIR: %v", err)
	}
	if got, want := src.ID().String(), wid(prodTD, "payments", "a"); got != want {
		t.Errorf("ID = %s, want %s", got, want)
	}
}

// TestReloadDuringRenewals reloads while generations are swapped and the old ones removed:
// every set loaded is one whole generation, and the last one wins.
func TestReloadDuringRenewals(t *testing.T) {
	w := newWorld(t)
	payCA := certPEM(w.payCA.cert)
	dir := t.TempDir()
	const n = 30
	sets := make([]podFiles, n)
	serials := map[string]bool{}
	for i := range sets {
		sets[i] = w.pod(t, w.payCA, wid(prodTD, "payments", "backend"), payCA, nil)
		serials[sets[i].leaf.SerialNumber.String()] = true
	}
	writePod(t, dir, sets[0])
	src := load(t, dir)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, p := range sets[1:] {
			swapPod(t, dir, p)
		}
	}()
	for loop := true; loop; {
		select {
		case <-done:
			loop = false
		default:
		}
		_ = src.Reload() // may refuse a set removed while read; the last good stays
		leaf := src.Certificate().Leaf
		if !serials[leaf.SerialNumber.String()] {
			t.Fatalf("loaded a certificate of no generation: serial %s", leaf.SerialNumber)
		}
	}
	if err := src.Reload(); err != nil {
		t.Fatalf("Reload after the renewals: %v", err)
	}
	if got, want := src.Certificate().Leaf.SerialNumber, sets[n-1].leaf.SerialNumber; got.Cmp(want) != 0 {
		t.Errorf("serial after the renewals = %s, want the last %s", got, want)
	}
}
