package enroll

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
	"time"

	"github.com/seal-dev/seal/internal/rotapi"
)

// File names in the output directory.
const (
	FileCert    = "tls.crt"  // leaf then chain, PEM
	FileKey     = "tls.key"  // PKCS#8 PEM
	FileCA      = "ca.crt"   // Workload CA bundle, PEM
	FileKeys    = "keys.txt" // age identities, newest first
	DirBundles  = "bundles"  // bundles/<trust-domain>.pem
	keysComment = "# Seal data keys of this workload, newest first; use with `age -d -i keys.txt`.\n"
)

// Identity is one redeemed identity and the file set that carries it.
type Identity struct {
	// SPIFFEID is the leaf's SPIFFE ID.
	SPIFFEID string
	// IssuedAt is when seal-init received it; NotAfter is when the leaf expires.
	IssuedAt, NotAfter time.Time
	// Leaf is the pod certificate.
	Leaf *x509.Certificate
	// Files maps names in the output directory to contents.
	Files map[string][]byte
}

// newIdentity checks the ROT's answer against the key it was issued for and builds the file set.
func newIdentity(key *ecdsa.PrivateKey, resp *rotapi.RedeemResponse, now time.Time) (*Identity, error) {
	chain, err := parseCerts(resp.Certificate)
	if err != nil || len(chain) == 0 {
		return nil, &badAnswer{fmt.Sprintf("certificate: %v", orEmpty(err))}
	}
	leaf := chain[0]
	if pub, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || !pub.Equal(&key.PublicKey) {
		return nil, &badAnswer{"the certificate is not for the key in the CSR"}
	}
	roots, err := parseCerts(resp.TrustBundle)
	if err != nil || len(roots) == 0 {
		return nil, &badAnswer{fmt.Sprintf("trust bundle: %v", orEmpty(err))}
	}
	pool, inter := x509.NewCertPool(), x509.NewCertPool()
	for _, c := range roots {
		pool.AddCert(c)
	}
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return nil, &badAnswer{"the certificate does not verify against the trust bundle: " + cause(err)}
	}
	var spiffeID string
	for _, u := range leaf.URIs {
		if u.Scheme == "spiffe" {
			spiffeID = u.String()
		}
	}
	if spiffeID == "" || (resp.SPIFFEID != "" && resp.SPIFFEID != spiffeID) {
		return nil, &badAnswer{"the certificate lacks the SPIFFE ID the ROT named"}
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("enroll: encoding key: %w", err)
	}
	files := map[string][]byte{
		FileCert: encodeCerts(chain),
		FileKey:  pemBlock("PRIVATE KEY", der),
		FileCA:   encodeCerts(roots),
	}
	for td, bundle := range resp.FederatedBundles {
		if !validTrustDomain(td) {
			return nil, &badAnswer{fmt.Sprintf("federated trust domain %q is not a valid name", td)}
		}
		certs, err := parseCerts(bundle)
		if err != nil || len(certs) == 0 {
			return nil, &badAnswer{fmt.Sprintf("bundle of %s: %v", td, orEmpty(err))}
		}
		files[DirBundles+"/"+td+".pem"] = encodeCerts(certs)
	}
	keys := bytes.NewBufferString(keysComment)
	for _, k := range resp.DataKeys {
		id := strings.TrimSpace(k.Identity)
		if !strings.HasPrefix(strings.ToUpper(id), "AGE-SECRET-KEY-") || strings.ContainsAny(id, " \t\r\n") {
			return nil, &badAnswer{fmt.Sprintf("data key %q is not an age identity", k.ID)}
		}
		fmt.Fprintf(keys, "# data key %s\n%s\n", strings.Join(strings.Fields(k.ID), "_"), id)
	}
	files[FileKeys] = keys.Bytes()
	return &Identity{SPIFFEID: spiffeID, IssuedAt: now, NotAfter: leaf.NotAfter, Leaf: leaf, Files: files}, nil
}

func orEmpty(err error) string {
	if err == nil {
		return "empty"
	}
	return cause(err)
}

// validTrustDomain accepts the SPIFFE trust-domain character set, which is also safe as a file name.
func validTrustDomain(td string) bool {
	if td == "" || len(td) > 255 || td[0] == '.' {
		return false
	}
	for _, r := range td {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

func parseCerts(s string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	rest := []byte(s)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("enroll: unexpected PEM block %q", b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func encodeCerts(certs []*x509.Certificate) []byte {
	var b []byte
	for _, c := range certs {
		b = append(b, pemBlock("CERTIFICATE", c.Raw)...)
	}
	return b
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}
