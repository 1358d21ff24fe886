package rot

import (
	"crypto/x509"
	"time"

	"github.com/seal-dev/seal/internal/ca"
)

// With Config.Upstream the ROT CA is an intermediate of an organisation's CA. What changes:
//
//   - new ROT CAs (first start, rotation) are signed by the upstream, and the state stores
//     each ROT CA's certificate followed by the upstream chain;
//   - every leaf's chain carries, above its Workload CA, the ROT CA that signed it and the
//     upstream's intermediates (not its self-signed root): a verifier that trusts only the
//     organisation's root verifies it;
//   - the trust domain's SPIFFE bundle and the pods' trust bundles stay the ROT CAs and the
//     Workload CAs: the organisation's root is not put into them, or every certificate its
//     PKI issues could speak for the trust domain.

// newROTCA creates a ROT CA: self-signed, or signed by the upstream.
func (s *Server) newROTCA() (*ca.CA, error) {
	if s.cfg.Upstream != nil {
		return s.cfg.Upstream.NewROTCA(s.td.Name(), s.cfg.RootTTL, s.opts)
	}
	return ca.NewRoot(s.td.Name(), s.cfg.RootTTL, s.opts)
}

// rootNeedsRotation is ca.NeedsRotation, except that a successor is not made when the
// upstream CA would end it no later than the current ROT CA ends (it would be as short-lived,
// and rotation would repeat every hour): the ROT then warns that the upstream needs renewing.
func (s *Server) rootNeedsRotation(root *ca.CA, now time.Time) bool {
	if !ca.NeedsRotation(root, now) {
		return false
	}
	if up := s.cfg.Upstream; up != nil && root != nil && !up.Cert.NotAfter.After(root.Cert.NotAfter) {
		s.log.Warn("the ROT CA is due for rotation but the upstream CA expires no later than it: renew the upstream CA (--upstream-ca-cert) and restart seal-rot", "upstreamNotAfter", up.Cert.NotAfter, "rotCANotAfter", root.Cert.NotAfter)
		return false
	}
	return true
}

// chainAbove is the PEM a leaf of Workload CA wca carries above wca: the ROT CA that signed
// wca and its upstream intermediates, when that ROT CA has an upstream; nothing otherwise.
func (v *view) chainAbove(wca *ca.CA) string {
	if wca == nil {
		return ""
	}
	for _, r := range v.roots {
		if len(r.Chain) == 0 {
			continue
		}
		if wca.Cert.CheckSignatureFrom(r.Cert) == nil {
			return string(ca.CertPEM(append([]*x509.Certificate{r.Cert}, r.Intermediates()...)...))
		}
	}
	return ""
}
