package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"
)

// ErrBadCSR: the CSR is not PEM PKCS#10, its signature does not verify, or its key is not allowed.
var ErrBadCSR = errors.New("ca: bad CSR")

// ErrBadKey: a public key of a type or size Seal does not sign.
var ErrBadKey = errors.New("ca: key not allowed")

// Leaf is what the policy says a leaf certificate names. Nothing in it comes from a CSR.
type Leaf struct {
	// SPIFFEID is the URI SAN, for example spiffe://td/workload/w/peer/p.
	SPIFFEID *url.URL
	// CommonName is the subject CN (informational).
	CommonName string
	DNSNames   []string
	IPs        []net.IP
	// TTL is the lifetime (DefaultLeafTTL when zero), never past the issuing CA.
	TTL time.Duration
	// NotAfter, when set, is the latest the leaf may be valid: a pod's certificate never
	// outlives the Egg it was redeemed with.
	NotAfter time.Time
	// Client and Server select the extended key usages; both false means both true.
	Client, Server bool
}

// Issued is a freshly signed leaf.
type Issued struct {
	DER      []byte
	NotAfter time.Time
}

// PEM returns the leaf's PEM followed by the issuing CA's, the chain a TLS stack presents.
func (i *Issued) PEM(issuer *CA) []byte {
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: i.DER})
	if issuer != nil {
		b = append(b, issuer.CertPEM()...)
	}
	return b
}

// Issue signs a leaf for pub with the names in l.
func (c *CA) Issue(l Leaf, pub crypto.PublicKey, o Options) (*Issued, error) {
	if err := CheckPublicKey(pub); err != nil {
		return nil, err
	}
	ttl := l.TTL
	if ttl <= 0 {
		ttl = DefaultLeafTTL
	}
	serial, err := newSerial(o.rand())
	if err != nil {
		return nil, err
	}
	now := o.now().Truncate(time.Second)
	notAfter := clampAfter(now.Add(ttl), c.Cert.NotAfter)
	if !l.NotAfter.IsZero() {
		notAfter = clampAfter(notAfter, l.NotAfter)
	}
	if !notAfter.After(now) {
		return nil, fmt.Errorf("ca: leaf would not be valid after %s (its notAfter limit)", notAfter.UTC().Format(time.RFC3339))
	}
	ku := x509.KeyUsageDigitalSignature
	if _, ok := pub.(*rsa.PublicKey); ok {
		ku |= x509.KeyUsageKeyEncipherment
	}
	var eku []x509.ExtKeyUsage
	if l.Server || !l.Client {
		eku = append(eku, x509.ExtKeyUsageServerAuth)
	}
	if l.Client || !l.Server {
		eku = append(eku, x509.ExtKeyUsageClientAuth)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"Seal"}, CommonName: l.CommonName},
		NotBefore:             now.Add(-backdate),
		NotAfter:              notAfter,
		KeyUsage:              ku,
		ExtKeyUsage:           eku,
		BasicConstraintsValid: true,
		DNSNames:              l.DNSNames,
		IPAddresses:           l.IPs,
	}
	if l.SPIFFEID != nil {
		tmpl.URIs = []*url.URL{l.SPIFFEID}
	}
	der, err := x509.CreateCertificate(o.rand(), tmpl, c.Cert, pub, c.Key)
	if err != nil {
		return nil, fmt.Errorf("ca: signing leaf: %w", err)
	}
	return &Issued{DER: der, NotAfter: tmpl.NotAfter}, nil
}

// IssueWithKey generates a fresh ECDSA P-256 key and signs a leaf for it; the ROT uses it for
// its own serving certificate and the admin client certificate.
func (c *CA) IssueWithKey(l Leaf, o Options) (*Issued, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), o.rand())
	if err != nil {
		return nil, nil, fmt.Errorf("ca: generating key: %w", err)
	}
	iss, err := c.Issue(l, key.Public(), o)
	if err != nil {
		return nil, nil, err
	}
	return iss, key, nil
}

// ParseCSR decodes a PEM PKCS#10 request, checks its key (CheckPublicKey) and only then
// verifies its self-signature: a key Seal would refuse anyway is never used for the costly
// signature check (an RSA modulus of 180,000 bits with a large exponent costs about a second
// of CPU to verify, its refusal microseconds). Callers use only its public key; every name in
// it is ignored.
func ParseCSR(b []byte) (*x509.CertificateRequest, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%w: no PEM block", ErrBadCSR)
	}
	if blk.Type != "CERTIFICATE REQUEST" && blk.Type != "NEW CERTIFICATE REQUEST" {
		return nil, fmt.Errorf("%w: PEM block is %q, want CERTIFICATE REQUEST", ErrBadCSR, blk.Type)
	}
	csr, err := x509.ParseCertificateRequest(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadCSR, err)
	}
	// The key first: its check costs nothing, the signature's can cost seconds.
	if err := CheckPublicKey(csr.PublicKey); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadCSR, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("%w: signature does not verify: %v", ErrBadCSR, err)
	}
	return csr, nil
}

// RSA keys Seal signs for: 2048 to 4096 bits, public exponent 65537 (what every RSA key
// generator uses). Bigger moduli and exponents only make a CSR's signature costly to verify.
const (
	MinRSABits  = 2048
	MaxRSABits  = 4096
	RSAExponent = 65537
)

// CheckPublicKey accepts ECDSA P-256 and P-384, Ed25519, and RSA of 2048 to 4096 bits with
// public exponent 65537. It only looks at sizes, so it costs the same for any key.
func CheckPublicKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
			return fmt.Errorf("%w: ECDSA curve %s (want P-256 or P-384)", ErrBadKey, k.Curve.Params().Name)
		}
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return fmt.Errorf("%w: Ed25519 key of %d bytes", ErrBadKey, len(k))
		}
	case *rsa.PublicKey:
		switch bits := k.N.BitLen(); {
		case bits < MinRSABits:
			return fmt.Errorf("%w: RSA-%d is under %d bits", ErrBadKey, bits, MinRSABits)
		case bits > MaxRSABits:
			return fmt.Errorf("%w: RSA-%d is over %d bits (want RSA-2048 to RSA-4096, or ECDSA P-256)", ErrBadKey, bits, MaxRSABits)
		case k.E != RSAExponent:
			return fmt.Errorf("%w: RSA public exponent %d (want %d)", ErrBadKey, k.E, RSAExponent)
		}
	default:
		return fmt.Errorf("%w: unsupported key type %T", ErrBadKey, pub)
	}
	return nil
}

// Valid returns the CAs whose validity window contains now, in their given order.
func Valid(cas []*CA, now time.Time) []*CA {
	var out []*CA
	for _, c := range cas {
		if !now.Before(c.Cert.NotBefore) && now.Before(c.Cert.NotAfter) {
			out = append(out, c)
		}
	}
	return out
}

// Unexpired returns the CAs that have not expired at now, in their given order: those valid
// now and those whose validity starts later (a CA another ROT replica with a clock ahead just
// made, or any CA after the clock stepped back). What the ROT keeps and publishes is this set;
// dropping a CA that is merely not yet valid would destroy its key for good.
func Unexpired(cas []*CA, now time.Time) []*CA {
	var out []*CA
	for _, c := range cas {
		if now.Before(c.Cert.NotAfter) {
			out = append(out, c)
		}
	}
	return out
}

// Current returns the valid CA that signs new certificates: the one issued last (the later in
// cas on a tie, since cas are kept oldest first). It returns
// nil when none is valid.
func Current(cas []*CA, now time.Time) *CA {
	var cur *CA
	for _, c := range Valid(cas, now) {
		if cur == nil || !c.Cert.NotBefore.Before(cur.Cert.NotBefore) { // ties: the later in the list
			cur = c
		}
	}
	return cur
}

// NeedsRotation reports whether less than a third of c's life is left at now, the point at
// which a successor is created so the two overlap in trust bundles.
func NeedsRotation(c *CA, now time.Time) bool {
	if c == nil {
		return true
	}
	life := c.Cert.NotAfter.Sub(c.Cert.NotBefore)
	return c.Cert.NotAfter.Sub(now) < life/3
}
