package verifytest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	intotov1 "github.com/in-toto/attestation/go/v1"
	cbundle "github.com/sigstore/cosign/v2/pkg/cosign/bundle"
	"github.com/sigstore/cosign/v2/pkg/oci/mutate"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"
	"github.com/sigstore/cosign/v2/pkg/oci/static"
	"github.com/sigstore/cosign/v2/pkg/types"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/dsse"
	sigpayload "github.com/sigstore/sigstore/pkg/signature/payload"
	"google.golang.org/protobuf/encoding/protojson"
)

// Signer signs images: with a plain key, or (CertPEM set) with a keyless certificate.
type Signer struct {
	SV signature.SignerVerifier
	// PublicPEM is the PEM public key, for a policy's key.data.
	PublicPEM string
	// CertPEM and ChainPEM are set for keyless signers.
	CertPEM, ChainPEM []byte
}

// NewKey makes an ECDSA P-256 signing key.
func NewKey(t testing.TB) *Signer {
	t.Helper()
	s, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// GenerateKey is NewKey outside a test.
func GenerateKey() (*Signer, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	sv, err := signature.LoadECDSASignerVerifier(priv, crypto.SHA256)
	if err != nil {
		return nil, err
	}
	pub, err := cryptoutils.MarshalPublicKeyToPEM(priv.Public())
	if err != nil {
		return nil, err
	}
	return &Signer{SV: sv, PublicPEM: string(pub)}, nil
}

// SignLegacy attaches a cosign signature of d under the `sha256-<hex>.sig` tag, as `cosign sign`
// does by default.
func (s *Signer) SignLegacy(t testing.TB, d name.Digest) {
	t.Helper()
	if err := s.WriteLegacySignature(d); err != nil {
		t.Fatal(err)
	}
}

// WriteLegacySignature is SignLegacy outside a test.
func (s *Signer) WriteLegacySignature(d name.Digest) error {
	payload, err := (&sigpayload.Cosign{Image: d}).MarshalJSON()
	if err != nil {
		return err
	}
	raw, err := s.SV.SignMessage(bytes.NewReader(payload))
	if err != nil {
		return err
	}
	var opts []static.Option
	if s.CertPEM != nil {
		opts = append(opts, static.WithCertChain(s.CertPEM, s.ChainPEM))
	}
	sig, err := static.NewSignature(payload, base64.StdEncoding.EncodeToString(raw), opts...)
	if err != nil {
		return err
	}
	se, err := ociremote.SignedEntity(d)
	if err != nil {
		return err
	}
	se, err = mutate.AttachSignatureToEntity(se, sig)
	if err != nil {
		return err
	}
	if err := ociremote.WriteSignatures(d.Repository, se); err != nil {
		return fmt.Errorf("verifytest: writing signature of %s: %w", d, err)
	}
	return nil
}

// SignBundle attaches a sigstore bundle (DSSE in-toto statement of the cosign sign predicate) as
// an OCI referrer of d, as `cosign sign --new-bundle-format` does.
func (s *Signer) SignBundle(t testing.TB, d name.Digest) {
	t.Helper()
	if err := s.WriteBundle(d, types.CosignSignPredicateType); err != nil {
		t.Fatal(err)
	}
}

// AttestBundle attaches a bundle of another predicate type (not a signature).
func (s *Signer) AttestBundle(t testing.TB, d name.Digest, predicateType string) {
	t.Helper()
	if err := s.WriteBundle(d, predicateType); err != nil {
		t.Fatal(err)
	}
}

// WriteBundle attaches a sigstore bundle of predicateType (types.CosignSignPredicateType for a
// signature) as an OCI referrer of d: SignBundle and AttestBundle outside a test.
func (s *Signer) WriteBundle(d name.Digest, predicateType string) error {
	alg, hexDigest, _ := strings.Cut(d.DigestStr(), ":")
	stmt := &intotov1.Statement{
		Type:          intotov1.StatementTypeUri,
		Subject:       []*intotov1.ResourceDescriptor{{Digest: map[string]string{alg: hexDigest}}},
		PredicateType: predicateType,
	}
	payload, err := protojson.Marshal(stmt)
	if err != nil {
		return err
	}
	env, err := dsse.WrapSigner(s.SV, types.IntotoPayloadType).SignMessage(bytes.NewReader(payload))
	if err != nil {
		return err
	}
	pub, err := s.SV.PublicKey()
	if err != nil {
		return err
	}
	signer := []byte(s.PublicPEM)
	if s.CertPEM != nil {
		signer = s.CertPEM
	}
	b, err := cbundle.MakeNewBundle(pub, nil, payload, env, signer, nil)
	if err != nil {
		return err
	}
	if err := ociremote.WriteAttestationNewBundleFormat(d, b, predicateType); err != nil {
		return fmt.Errorf("verifytest: writing bundle for %s: %w", d, err)
	}
	return nil
}

// CA is a test Fulcio-like root that issues short-lived code-signing certificates carrying an
// OIDC issuer and a subject (email or URI SAN).
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	// PEM is the root certificate, for a policy's keyless.trustedRoot.certificateAuthorities.
	PEM string
}

// NewCA makes a root CA.
func NewCA(t testing.TB) *CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test fulcio root", Organization: []string{"seal test"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	crt, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{Cert: crt, Key: key, PEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
}

var (
	oidIssuerV1 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 1}
	oidIssuerV2 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 8}
)

// Keyless returns a signer with a fresh key and a certificate from the CA for subject (an email,
// or a URI when it contains "://") issued by the OIDC issuer.
func (ca *CA) Keyless(t testing.TB, issuer, subject string) *Signer {
	t.Helper()
	s := NewKey(t)
	v2, err := asn1.MarshalWithParams(issuer, "utf8")
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		ExtraExtensions: []pkix.Extension{
			{Id: oidIssuerV1, Value: []byte(issuer)},
			{Id: oidIssuerV2, Value: v2},
		},
	}
	if strings.Contains(subject, "://") {
		u, err := url.Parse(subject)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = []*url.URL{u}
	} else {
		tmpl.EmailAddresses = []string{subject}
	}
	pub, err := s.SV.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	s.CertPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	s.ChainPEM = []byte(ca.PEM)
	return s
}
