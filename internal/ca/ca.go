package ca

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/url"
	"time"
)

// Default lifetimes.
const (
	DefaultRootTTL     = 10 * 365 * 24 * time.Hour
	DefaultWorkloadTTL = 365 * 24 * time.Hour
	DefaultLeafTTL     = 24 * time.Hour
	// backdate absorbs small clock skew between the ROT and the pods.
	backdate = 5 * time.Minute
)

// Options carry the clock, randomness and key custody every operation uses.
type Options struct {
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Rand is the source of keys and serial numbers (crypto/rand when nil).
	Rand io.Reader
	// Custody creates CA keys and gives their stored form (internal/custody); nil: keys are
	// made in memory and stored as PKCS#8 PEM (custody.go).
	Custody Custody
}

func (o Options) now() time.Time {
	if o.Now == nil {
		return time.Now()
	}
	return o.Now()
}

func (o Options) rand() io.Reader {
	if o.Rand == nil {
		return rand.Reader
	}
	return o.Rand
}

// CA is a certificate authority: its certificate and private key.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// Chain are the certificates above Cert when it is not self-signed: a ROT CA signed by an
	// organisation's CA carries that CA and its issuers (upstream.go). Empty otherwise.
	Chain []*x509.Certificate
}

// NewRoot creates a self-signed ROT CA (ECDSA P-256) for trustDomain, valid for ttl
// (DefaultRootTTL when zero). Its URI SAN is the trust domain's SPIFFE ID.
func NewRoot(trustDomain string, ttl time.Duration, o Options) (*CA, error) {
	return newROTCA(nil, trustDomain, ttl, o)
}

// newROTCA creates a ROT CA, self-signed when upstream is nil (upstream.go).
func newROTCA(upstream *CA, trustDomain string, ttl time.Duration, o Options) (*CA, error) {
	if ttl <= 0 {
		ttl = DefaultRootTTL
	}
	key, err := o.newKey()
	if err != nil {
		return nil, fmt.Errorf("ca: generating ROT CA key: %w", err)
	}
	now := o.now().Truncate(time.Second)
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{Organization: []string{"Seal"}, CommonName: "Seal ROT CA " + trustDomain},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(ttl),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		URIs:                  []*url.URL{{Scheme: "spiffe", Host: trustDomain}},
	}
	if upstream != nil {
		return upstream.subordinate(tmpl, key, o)
	}
	return create(tmpl, nil, key, o)
}

// NewIntermediate creates a Workload CA for workload signed by parent: path length 0 (it signs
// leaves only), valid for ttl (DefaultWorkloadTTL when zero) but never past parent.
func (parent *CA) NewIntermediate(trustDomain, workload string, ttl time.Duration, o Options) (*CA, error) {
	if ttl <= 0 {
		ttl = DefaultWorkloadTTL
	}
	key, err := o.newKey()
	if err != nil {
		return nil, fmt.Errorf("ca: generating workload CA key: %w", err)
	}
	now := o.now().Truncate(time.Second)
	tmpl := &x509.Certificate{
		Subject: pkix.Name{
			Organization:       []string{"Seal"},
			OrganizationalUnit: []string{trustDomain},
			CommonName:         "Seal workload CA " + workload,
		},
		NotBefore:             now.Add(-backdate),
		NotAfter:              clampAfter(now.Add(ttl), parent.Cert.NotAfter),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		URIs:                  []*url.URL{{Scheme: "spiffe", Host: trustDomain}},
	}
	return create(tmpl, parent, key, o)
}

func create(tmpl *x509.Certificate, parent *CA, key crypto.Signer, o Options) (*CA, error) {
	serial, err := newSerial(o.rand())
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	parentCert, signer := tmpl, key
	if parent != nil {
		parentCert, signer = parent.Cert, parent.Key
	}
	der, err := x509.CreateCertificate(o.rand(), tmpl, parentCert, key.Public(), signer)
	if err != nil {
		return nil, fmt.Errorf("ca: signing CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	return &CA{Cert: cert, Key: key}, nil
}

func newSerial(r io.Reader) (*big.Int, error) {
	b := make([]byte, 16)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("ca: reading serial: %w", err)
	}
	b[0] &= 0x7f
	b[0] |= 0x40 // positive, never shorter than 15 bytes
	return new(big.Int).SetBytes(b), nil
}

func clampAfter(t, limit time.Time) time.Time {
	if t.After(limit) {
		return limit
	}
	return t
}

// CertPEM returns the PEM encoding of the CA certificate.
func (c *CA) CertPEM() []byte { return CertPEM(c.Cert) }

// KeyPEM returns the PKCS#8 PEM encoding of the CA key.
func (c *CA) KeyPEM() ([]byte, error) { return KeyPEM(c.Key) }

// Fingerprint is the hex SHA-256 of the CA certificate's DER.
func (c *CA) Fingerprint() string { return Fingerprint(c.Cert) }

// Fingerprint is the hex SHA-256 of a certificate's DER.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// CertPEM returns the PEM of certs, in order.
func CertPEM(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// KeyPEM returns the PKCS#8 PEM of a private key.
func KeyPEM(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("ca: encoding key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// Parse reads a CA from the PEM of its certificate and PKCS#8 key and checks they belong
// together and the certificate is a CA.
func Parse(certPEM, keyPEM []byte) (*CA, error) {
	certs, err := ParseCerts(certPEM)
	if err != nil {
		return nil, err
	}
	cert := certs[0]
	if !cert.IsCA {
		return nil, errors.New("ca: certificate is not a CA")
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil || kb.Type != "PRIVATE KEY" {
		return nil, errors.New("ca: no PKCS#8 PRIVATE KEY PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("ca: parsing key: %w", err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("ca: key type %T cannot sign", k)
	}
	pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, errors.New("ca: key does not match certificate")
	}
	return &CA{Cert: cert, Key: signer, Chain: certs[1:]}, nil
}

// ParseCerts reads every CERTIFICATE block of a PEM bundle; it fails when there is none or
// when anything else is in it.
func ParseCerts(b []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("ca: unexpected PEM block %q in certificate bundle", blk.Type)
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("ca: parsing certificate: %w", err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("ca: no certificate in PEM")
	}
	return certs, nil
}
