package rot

import (
	"fmt"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// checkAuthorities refuses a bundle held for td whose X.509 authorities belong to another
// trust domain. A SPIFFE bundle document does not name its trust domain, but CA certificates
// usually do with a URI SAN spiffe://<trust-domain> (Seal's ROT CAs and SPIRE's do): such a
// CA must name td. It catches a bundle endpoint or a file that serves another domain's bundle.
func checkAuthorities(td spiffeid.TrustDomain, b *spiffebundle.Bundle) error {
	for _, c := range b.X509Authorities() {
		for _, u := range c.URIs {
			if u.Scheme != "spiffe" {
				continue
			}
			other, err := spiffeid.TrustDomainFromURI(u)
			if err != nil {
				return fmt.Errorf("rot: X.509 authority %q of the bundle for %q has an invalid SPIFFE ID %q: %v", c.Subject.CommonName, td.Name(), u, err)
			}
			if other != td {
				return fmt.Errorf("rot: X.509 authority %q of the bundle for %q belongs to trust domain %q: a bundle of another trust domain", c.Subject.CommonName, td.Name(), other.Name())
			}
		}
	}
	return nil
}
