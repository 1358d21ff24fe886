package ca

import (
	"crypto/x509"
	"fmt"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// CheckTrustDomain refuses CA certificates held for td that belong to another trust domain. A
// SPIFFE bundle document does not name its trust domain, but CA certificates usually do with a
// URI SAN spiffe://<trust-domain> (Seal's ROT CAs and SPIRE's do): such a CA must name td. It
// catches a bundle endpoint, a file or a pasted resource that carries another domain's bundle.
func CheckTrustDomain(td spiffeid.TrustDomain, cas []*x509.Certificate) error {
	for _, c := range cas {
		for _, u := range c.URIs {
			if u.Scheme != "spiffe" {
				continue
			}
			other, err := spiffeid.TrustDomainFromURI(u)
			if err != nil {
				return fmt.Errorf("ca: X.509 authority %q of the bundle for %q has an invalid SPIFFE ID %q: %v", c.Subject.CommonName, td.Name(), u, err)
			}
			if other != td {
				return fmt.Errorf("ca: X.509 authority %q of the bundle for %q belongs to trust domain %q: a bundle of another trust domain", c.Subject.CommonName, td.Name(), other.Name())
			}
		}
	}
	return nil
}
