package sealtls_test

import (
	"net/url"
	"testing"
	"time"

	"github.com/seal-dev/seal/internal/ca"
	"github.com/seal-dev/seal/pkg/sealtls"
)

// TestCertificatesOfTheROT runs mTLS, same trust domain and federated, with certificates made
// by internal/ca, the code seal-rot signs with: the X509-SVID checks accept what the ROT issues.
func TestCertificatesOfTheROT(t *testing.T) {
	var o ca.Options
	root := func(td string) *ca.CA {
		r, err := ca.NewRoot(td, 24*time.Hour, o)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	prod, partner := root(prodTD), root(partnerTD)
	workloadCA := func(r *ca.CA, td, w string) *ca.CA {
		c, err := r.NewIntermediate(td, w, 12*time.Hour, o)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	payCA, billCA := workloadCA(prod, prodTD, "payments"), workloadCA(partner, partnerTD, "billing")
	pod := func(wca *ca.CA, id string, bundles map[string][]byte) string {
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
		return dir
	}
	api := load(t, pod(payCA, wid(prodTD, "payments", "api"), map[string][]byte{partnerTD: partner.CertPEM()}))
	web := load(t, pod(payCA, wid(prodTD, "payments", "web"), nil))
	billing := load(t, pod(billCA, wid(partnerTD, "billing", "client"), map[string][]byte{prodTD: prod.CertPEM()}))

	addr, _ := startServer(t, sealtls.ServerConfig(api, sealtls.AnyOf(sealtls.AuthorizePeers("web"), sealtls.AuthorizeWorkload(partnerTD, "billing"))))
	for name, client := range map[string]*sealtls.Source{"same workload": web, "federated": billing} {
		if _, err := dial(addr, sealtls.ClientConfig(client, sealtls.AnyOf(sealtls.AuthorizePeers("api"), sealtls.AuthorizeWorkload(prodTD, "payments", "api")))); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
