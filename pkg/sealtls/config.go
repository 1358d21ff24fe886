package sealtls

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// An Option tunes [ServerConfig] or [ClientConfig].
type Option func(*options)

type options struct {
	serverName string
}

// WithServerName makes a client send host as SNI, e.g. the host of an OpenShift passthrough
// Route, so the router can pick the backend. It changes routing only: the server is still
// verified by its certificate chain and SPIFFE ID, never by this name. Servers ignore it.
func WithServerName(host string) Option {
	return func(o *options) { o.serverName = host }
}

// ServerConfig returns a TLS server configuration that presents src's certificate and
// requires a client certificate: the client's chain must verify against the authorities of
// the trust domain in its SPIFFE ID (ExtKeyUsage client auth) and authorize must accept the ID.
//
// It sets ClientAuth to tls.RequireAnyClientCert and verifies in VerifyConnection (which runs
// on every handshake, resumed ones too) because the pool to verify against depends on the
// client's trust domain; the result is as strict as tls.RequireAndVerifyClientCert. Callers may
// set further fields (NextProtos, MinVersion) on the returned config.
func ServerConfig(src *Source, authorize Authorizer, opts ...Option) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		ClientAuth: tls.RequireAnyClientCert,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return src.Certificate(), nil
		},
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := src.verifyPeer(cs.PeerCertificates, x509.ExtKeyUsageClientAuth, authorize)
			return err
		},
	}
}

// ClientConfig returns a TLS client configuration that presents src's certificate and
// verifies the server: its chain must verify against the authorities of the trust domain in
// its SPIFFE ID (ExtKeyUsage server auth) and authorize must accept the ID.
//
// InsecureSkipVerify is set only to switch off Go's hostname verification; VerifyConnection
// does the full chain verification in its place, by SPIFFE ID. Use [WithServerName] to send
// an SNI for routing.
func ClientConfig(src *Source, authorize Authorizer, opts ...Option) *tls.Config {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         o.serverName,
		InsecureSkipVerify: true, // replaced by VerifyConnection below, never by nothing
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return src.Certificate(), nil
		},
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := src.verifyPeer(cs.PeerCertificates, x509.ExtKeyUsageServerAuth, authorize)
			return err
		},
	}
}

// PeerID returns the SPIFFE ID of the peer of a connection made with [ServerConfig] or
// [ClientConfig] (e.g. from (*tls.Conn).ConnectionState()), for logging or finer checks.
func PeerID(cs tls.ConnectionState) (spiffeid.ID, error) {
	if len(cs.PeerCertificates) == 0 {
		return spiffeid.ID{}, errors.New("sealtls: no peer certificate")
	}
	return certID(cs.PeerCertificates[0])
}

// verifyPeer verifies a presented chain (leaf first) as an X.509-SVID of a trusted trust
// domain and runs authorize on its ID.
func (s *Source) verifyPeer(certs []*x509.Certificate, usage x509.ExtKeyUsage, authorize Authorizer) (spiffeid.ID, error) {
	if len(certs) == 0 {
		return spiffeid.ID{}, errors.New("sealtls: peer sent no certificate")
	}
	leaf := certs[0]
	id, err := certID(leaf)
	if err != nil {
		return spiffeid.ID{}, fmt.Errorf("sealtls: peer: %w", err)
	}
	switch {
	case leaf.IsCA:
		return id, fmt.Errorf("sealtls: peer %s: leaf certificate is a CA", id)
	case leaf.KeyUsage&x509.KeyUsageDigitalSignature == 0:
		return id, fmt.Errorf("sealtls: peer %s: leaf certificate lacks the digitalSignature key usage", id)
	case leaf.KeyUsage&(x509.KeyUsageCertSign|x509.KeyUsageCRLSign) != 0:
		return id, fmt.Errorf("sealtls: peer %s: leaf certificate may sign certificates", id)
	}
	snap := s.snapshot()
	roots, ok := snap.pools[id.TrustDomain()]
	if !ok {
		return id, fmt.Errorf("sealtls: peer %s: trust domain %s is not trusted (no %s/%s.pem)", id, id.TrustDomain().Name(), BundlesDir, id.TrustDomain().Name())
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		KeyUsages:     []x509.ExtKeyUsage{usage},
		CurrentTime:   s.now(),
	}); err != nil {
		return id, fmt.Errorf("sealtls: peer %s: certificate does not verify against the authorities of %s: %w", id, id.TrustDomain().Name(), err)
	}
	if authorize == nil {
		return id, fmt.Errorf("%w: %s: no Authorizer given", ErrUnauthorized, id)
	}
	if err := authorize(snap.id, id); err != nil {
		return id, err
	}
	return id, nil
}
