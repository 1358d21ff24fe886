package servingcert_test

import (
	"crypto/x509"
	"fmt"
	"net"
	"time"

	"github.com/seal-dev/seal/internal/servingcert"
)

func ExampleCA_Issue() {
	now := time.Now()
	ca, _ := servingcert.NewCA("seal-webhook CA", now, 365*24*time.Hour, nil)
	leaf, _ := ca.Issue([]string{"seal-webhook.seal-system.svc"}, []net.IP{net.IPv4(127, 0, 0, 1)}, now, 7*24*time.Hour, nil)
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	_, err := leaf.Leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "seal-webhook.seal-system.svc"})
	fmt.Println(err)
	// Output: <nil>
}
