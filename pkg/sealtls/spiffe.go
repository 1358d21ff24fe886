package sealtls

import (
	"crypto"
	"fmt"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

// A *Source is a go-spiffe X.509-SVID source and X.509 bundle source, so code written for
// go-spiffe (its tlsconfig package, or a function taking both interfaces) runs on Seal's files
// unchanged, and the same code runs on SPIRE's Workload API (workloadapi.X509Source).
var (
	_ x509svid.Source   = (*Source)(nil)
	_ x509bundle.Source = (*Source)(nil)
)

// GetX509SVID implements go-spiffe's x509svid.Source: the current tls.crt (leaf first, then
// its Workload CA) and tls.key, reloaded as [Source.Certificate] is. Each call returns a new
// SVID value; its certificates are shared and must not be modified.
func (s *Source) GetX509SVID() (*x509svid.SVID, error) {
	snap := s.snapshot()
	key, ok := snap.cert.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("sealtls: %s: private key of type %T cannot sign", KeyFile, snap.cert.PrivateKey)
	}
	return &x509svid.SVID{ID: snap.id, Certificates: snap.chain, PrivateKey: key}, nil
}

// GetX509BundleForTrustDomain implements go-spiffe's x509bundle.Source: ca.crt for this
// program's own trust domain, bundles/<td>.pem for a federated one, and an error for a trust
// domain Seal does not trust. As in [ServerConfig] and [ClientConfig], a bundles/ file for
// the own trust domain is ignored: only ca.crt speaks for it.
func (s *Source) GetX509BundleForTrustDomain(td spiffeid.TrustDomain) (*x509bundle.Bundle, error) {
	certs, ok := s.snapshot().authorities[td]
	if !ok {
		return nil, fmt.Errorf("sealtls: trust domain %q is not trusted (no %s/%s.pem)", td.Name(), BundlesDir, td.Name())
	}
	return x509bundle.FromX509Authorities(td, certs), nil
}
