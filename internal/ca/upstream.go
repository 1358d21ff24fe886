package ca

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"time"
)

// An upstream CA is an organisation's CA the ROT CA is chained to (seal-rot serve
// --upstream-ca-cert/--upstream-ca-key): the ROT CA is then an intermediate it signs, and
// rotation makes its successor under the same upstream.

// ParseUpstream reads an organisation's CA: certPEM is its certificate followed by its issuers
// up to the root (the root may be left out), keyPEM its private key (PKCS#8, or SEC 1 EC or
// PKCS#1 RSA). It checks the certificate is a CA that may sign certificates and leaves room
// below it for the ROT CA and a Workload CA (path length of 2 or more, or unlimited).
func ParseUpstream(certPEM, keyPEM []byte) (*CA, error) {
	certs, err := ParseCerts(certPEM)
	if err != nil {
		return nil, fmt.Errorf("ca: upstream certificate: %w", err)
	}
	kb, rest := pem.Decode(keyPEM)
	if kb == nil || len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("ca: upstream key: want exactly one PEM private key")
	}
	var k any
	switch kb.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(kb.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(kb.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(kb.Bytes)
	default:
		return nil, fmt.Errorf("ca: upstream key: PEM block %q: want PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY (encrypted keys are not read)", kb.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("ca: upstream key: %w", err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("ca: upstream key type %T cannot sign", k)
	}
	return NewUpstream(certs, signer)
}

// NewUpstream checks an organisation's CA whose key is held elsewhere (a PKCS#11 token):
// certs[0] is its certificate, the rest its issuers.
func NewUpstream(certs []*x509.Certificate, key crypto.Signer) (*CA, error) {
	if len(certs) == 0 {
		return nil, errors.New("ca: upstream: no certificate")
	}
	c := certs[0]
	if !c.IsCA || !c.BasicConstraintsValid {
		return nil, errors.New("ca: upstream certificate is not a CA (basicConstraints CA:TRUE)")
	}
	if c.KeyUsage != 0 && c.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, errors.New("ca: upstream certificate may not sign certificates (keyUsage lacks keyCertSign)")
	}
	if c.MaxPathLen >= 0 && (c.MaxPathLen > 0 || c.MaxPathLenZero) && c.MaxPathLen < 2 {
		return nil, fmt.Errorf("ca: upstream certificate has path length %d: the ROT CA and the Workload CAs below it need 2", c.MaxPathLen)
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(c.PublicKey) {
		return nil, errors.New("ca: upstream key does not match the upstream certificate")
	}
	for i := 1; i < len(certs); i++ {
		if err := certs[i-1].CheckSignatureFrom(certs[i]); err != nil {
			return nil, fmt.Errorf("ca: upstream certificate %d is not signed by certificate %d after it: %w", i-1, i, err)
		}
	}
	return &CA{Cert: c, Key: key, Chain: certs[1:]}, nil
}

// NewROTCA creates a ROT CA for trustDomain signed by up (DefaultRootTTL when ttl is zero,
// never past up): an intermediate of the organisation's PKI whose Chain is up and its issuers.
func (up *CA) NewROTCA(trustDomain string, ttl time.Duration, o Options) (*CA, error) {
	return newROTCA(up, trustDomain, ttl, o)
}

func (up *CA) subordinate(tmpl *x509.Certificate, key crypto.Signer, o Options) (*CA, error) {
	tmpl.NotAfter = clampAfter(tmpl.NotAfter, up.Cert.NotAfter)
	c, err := create(tmpl, up, key, o)
	if err != nil {
		return nil, err
	}
	c.Chain = append([]*x509.Certificate{up.Cert}, up.Chain...)
	return c, nil
}

// ChainPEM is the PEM of c's certificate followed by its Chain: what state stores.
func (c *CA) ChainPEM() []byte { return CertPEM(append([]*x509.Certificate{c.Cert}, c.Chain...)...) }

// Intermediates are the certificates of c's Chain that are not self-signed: what a leaf's
// chain carries above c so that a verifier holding the organisation's root can verify it.
func (c *CA) Intermediates() []*x509.Certificate {
	var out []*x509.Certificate
	for _, x := range c.Chain {
		if bytes.Equal(x.RawIssuer, x.RawSubject) && x.CheckSignatureFrom(x) == nil {
			continue
		}
		out = append(out, x)
	}
	return out
}
