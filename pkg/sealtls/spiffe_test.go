package sealtls_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/seal-dev/seal/internal/ca"
	"github.com/seal-dev/seal/pkg/sealtls"
)

// The compile-time promise of the package: a *Source is both go-spiffe sources.
var (
	_ x509svid.Source   = (*sealtls.Source)(nil)
	_ x509bundle.Source = (*sealtls.Source)(nil)
)

// rotPods writes pod directories with certificates made by internal/ca, the code seal-rot signs
// with: payments/api and payments/web in prod, billing/client in partner (federated both ways).
func rotPods(t *testing.T) (api, web, billing *sealtls.Source) {
	t.Helper()
	var o ca.Options
	root := func(td string) *ca.CA {
		r, err := ca.NewRoot(td, 24*time.Hour, o)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	prod, partner := root(prodTD), root(partnerTD)
	payCA, err := prod.NewIntermediate(prodTD, "payments", 12*time.Hour, o)
	if err != nil {
		t.Fatal(err)
	}
	billCA, err := partner.NewIntermediate(partnerTD, "billing", 12*time.Hour, o)
	if err != nil {
		t.Fatal(err)
	}
	pod := func(wca *ca.CA, id string, bundles map[string][]byte) *sealtls.Source {
		u, _ := url.Parse(id)
		iss, key, err := wca.IssueWithKey(ca.Leaf{SPIFFEID: u, DNSNames: []string{"api"}}, o)
		if err != nil {
			t.Fatal(err)
		}
		keyPEM, err := ca.KeyPEM(key)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		writePod(t, dir, podFiles{chain: iss.PEM(wca), key: keyPEM, ca: wca.CertPEM(), bundles: bundles})
		return load(t, dir)
	}
	return pod(payCA, wid(prodTD, "payments", "api"), map[string][]byte{partnerTD: partner.CertPEM()}),
		pod(payCA, wid(prodTD, "payments", "web"), nil),
		pod(billCA, wid(partnerTD, "billing", "client"), map[string][]byte{prodTD: prod.CertPEM()})
}

// TestGoSPIFFETLSConfig: one side uses sealtls, the other go-spiffe's tlsconfig on a Seal
// Source, both ways, same trust domain and federated; go-spiffe's authorizers decide.
func TestGoSPIFFETLSConfig(t *testing.T) {
	api, web, billing := rotPods(t)
	apiID := spiffeid.RequireFromString(wid(prodTD, "payments", "api"))
	td := func(s string) spiffeid.TrustDomain { return spiffeid.RequireTrustDomainFromString(s) }

	t.Run("go-spiffe server, sealtls clients", func(t *testing.T) {
		addr, results := startServer(t, tlsconfig.MTLSServerConfig(api, api, tlsconfig.AuthorizeOneOf(
			spiffeid.RequireFromString(wid(prodTD, "payments", "web")),
			spiffeid.RequireFromString(wid(partnerTD, "billing", "client")))))
		for name, client := range map[string]*sealtls.Source{"same trust domain": web, "federated": billing} {
			leaf, err := dial(addr, sealtls.ClientConfig(client, sealtls.AuthorizeID(apiID.String())))
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if r := <-results; r.err != nil || r.peer != client.ID() {
				t.Errorf("%s: server saw peer %v, err %v; want %v", name, r.peer, r.err, client.ID())
			}
			if got, _ := x509svid.IDFromCert(leaf); got != apiID {
				t.Errorf("%s: client saw server %v, want %v", name, got, apiID)
			}
		}
	})
	t.Run("sealtls server, go-spiffe clients", func(t *testing.T) {
		addr, results := startServer(t, sealtls.ServerConfig(api, sealtls.AnyOf(sealtls.AuthorizePeers("web"), sealtls.AuthorizeWorkload(partnerTD, "billing"))))
		for name, client := range map[string]*sealtls.Source{"same trust domain": web, "federated": billing} {
			if _, err := dial(addr, tlsconfig.MTLSClientConfig(client, client, tlsconfig.AuthorizeID(apiID))); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if r := <-results; r.err != nil || r.peer != client.ID() {
				t.Errorf("%s: server saw peer %v, err %v; want %v", name, r.peer, r.err, client.ID())
			}
		}
	})
	t.Run("go-spiffe refuses what its authorizer refuses", func(t *testing.T) {
		addr, _ := startServer(t, tlsconfig.MTLSServerConfig(api, api, tlsconfig.AuthorizeMemberOf(td(partnerTD))))
		if _, err := dial(addr, sealtls.ClientConfig(web, sealtls.AuthorizeID(apiID.String()))); err == nil {
			t.Error("web (prod) reached a server that authorizes only partner members")
		}
	})
	t.Run("a trust domain without a bundle is not trusted", func(t *testing.T) {
		// web has no bundles/: billing's chain must not verify through go-spiffe either.
		addr, _ := startServer(t, tlsconfig.MTLSServerConfig(web, web, tlsconfig.AuthorizeAny()))
		if _, err := dial(addr, tlsconfig.MTLSClientConfig(billing, billing, tlsconfig.AuthorizeAny())); err == nil {
			t.Error("billing (partner) reached web, which has no partner bundle")
		}
	})
}

func TestSourceAsGoSPIFFESources(t *testing.T) {
	api, _, _ := rotPods(t)
	svid, err := api.GetX509SVID()
	if err != nil {
		t.Fatal(err)
	}
	if svid.ID != api.ID() || len(svid.Certificates) != 2 || !svid.Certificates[0].Equal(api.Certificate().Leaf) {
		t.Errorf("GetX509SVID: ID %v, %d certificates; want %v, leaf then Workload CA", svid.ID, len(svid.Certificates), api.ID())
	}
	// The SVID is valid by go-spiffe's own rules and verifies against the Source's own bundle.
	if _, _, err := x509svid.Verify(svid.Certificates, api); err != nil {
		t.Errorf("x509svid.Verify(own SVID, own bundle): %v", err)
	}
	for _, tc := range []struct {
		td      string
		wantErr string
	}{
		{td: prodTD},
		{td: partnerTD},
		{td: "other.example.com", wantErr: `trust domain "other.example.com" is not trusted`},
	} {
		b, err := api.GetX509BundleForTrustDomain(spiffeid.RequireTrustDomainFromString(tc.td))
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: err %v, want %q", tc.td, err, tc.wantErr)
			}
		case err != nil:
			t.Errorf("%s: %v", tc.td, err)
		case b.TrustDomain().Name() != tc.td || len(b.X509Authorities()) != 1:
			t.Errorf("%s: bundle of %s with %d authorities, want 1", tc.td, b.TrustDomain(), len(b.X509Authorities()))
		}
	}
}

// TestSealStricterThanGoSPIFFE: a leaf that carries only the clientAuth extended key usage is
// no server certificate. go-spiffe's tlsconfig (which verifies with ExtKeyUsageAny) accepts it;
// sealtls.ClientConfig refuses it.
func TestSealStricterThanGoSPIFFE(t *testing.T) {
	w := newWorld(t)
	payCA := certPEM(w.payCA.cert)
	server := load(t, w.dir(t, w.pod(t, w.payCA, wid(prodTD, "payments", "api"), payCA, nil, withEKU(x509.ExtKeyUsageClientAuth))))
	client := load(t, w.dir(t, w.pod(t, w.payCA, wid(prodTD, "payments", "web"), payCA, nil)))
	addr, _ := startServer(t, tlsconfig.MTLSServerConfig(server, server, tlsconfig.AuthorizeAny()))
	if _, err := dial(addr, tlsconfig.MTLSClientConfig(client, client, tlsconfig.AuthorizeAny())); err != nil {
		t.Fatalf("go-spiffe client: %v (the test assumes go-spiffe ignores the extended key usage)", err)
	}
	_, err := dial(addr, sealtls.ClientConfig(client, sealtls.AuthorizeAny()))
	if err == nil || !strings.Contains(err.Error(), "usage") {
		t.Errorf("sealtls client: err %v, want a refusal naming the key usage", err)
	}
}

// TestResumptionIsReverified: Seal's configs verify in VerifyConnection, which Go runs on
// resumed sessions too; go-spiffe's tlsconfig verifies in VerifyPeerCertificate, which Go
// skips on resumption. Once the server stops trusting the client's CA, a resumed session is
// refused by sealtls.ServerConfig and still accepted by go-spiffe's MTLSServerConfig.
func TestResumptionIsReverified(t *testing.T) {
	w := newWorld(t)
	payCA, ordCA := certPEM(w.payCA.cert), certPEM(w.ordCA.cert)
	clientSrc := load(t, w.dir(t, w.pod(t, w.payCA, wid(prodTD, "payments", "web"), payCA, nil)))
	for _, tc := range []struct {
		name       string
		server     func(*sealtls.Source) *tls.Config
		wantResume bool // the resumed handshake succeeds
	}{
		{"sealtls", func(s *sealtls.Source) *tls.Config { return sealtls.ServerConfig(s, sealtls.AuthorizeAny()) }, false},
		{"go-spiffe", func(s *sealtls.Source) *tls.Config {
			return tlsconfig.MTLSServerConfig(s, s, tlsconfig.AuthorizeAny())
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			server := w.pod(t, w.payCA, wid(prodTD, "payments", "api"), payCA, nil)
			dir := w.dir(t, server)
			src := load(t, dir)
			addr, _ := startServer(t, tc.server(src))
			cfg := sealtls.ClientConfig(clientSrc, sealtls.AuthorizeAny())
			cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
			if _, resumed, err := dialResume(addr, cfg); err != nil || resumed {
				t.Fatalf("first connection: resumed %v, err %v", resumed, err)
			}
			// The server now trusts only the orders Workload CA: web is no longer trusted.
			server.ca = ordCA
			swapPod(t, dir, server)
			_, resumed, err := dialResume(addr, cfg)
			if tc.wantResume && (err != nil || !resumed) {
				t.Errorf("resumed %v, err %v; want a resumed session that is not verified again", resumed, err)
			}
			if !tc.wantResume && err == nil {
				t.Errorf("resumed %v: the server accepted a client it no longer trusts", resumed)
			}
		})
	}
}

// dialResume is dial that also says whether the session was resumed.
func dialResume(addr string, cfg *tls.Config) (*x509.Certificate, bool, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return nil, false, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 2)
	if _, err := io.ReadFull(c, buf); err != nil {
		return nil, c.ConnectionState().DidResume, err
	}
	cs := c.ConnectionState()
	return cs.PeerCertificates[0], cs.DidResume, nil
}
