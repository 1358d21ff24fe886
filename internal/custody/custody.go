package custody

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/seal-dev/seal/internal/ca"
)

// Sentinel errors callers branch on.
var (
	// ErrKEKRequired: the state holds values sealed under a key-encryption key and none was
	// given (or another one was).
	ErrKEKRequired = errors.New("custody: the state is envelope-encrypted: start seal-rot with --kek-file and the key-encryption key it was written with")
	// ErrTokenRequired: the state holds a value that only a PKCS#11 token opens.
	ErrTokenRequired = errors.New("custody: the state's keys are on a PKCS#11 token: start seal-rot with --key-provider pkcs11 and that token")
	// ErrOpen: a sealed value does not open (tampered, moved to another name, or sealed under
	// another key).
	ErrOpen = errors.New("custody: a sealed value does not open")
)

// Stored-form prefixes.
const (
	kekPrefix    = "seal-kek:v1:"
	p11Prefix    = "seal-p11:v1:"
	handlePrefix = "pkcs11:"
	pemPrefix    = "-----BEGIN"
)

// Keys is a key provider: a ca.Custody with a name and a Close.
type Keys interface {
	ca.Custody
	// Provider is "file" or "pkcs11".
	Provider() string
	// Protects reports whether stored secrets are protected by more than file permissions (a
	// KEK or a token): the ROT then seals any value it finds in clear on start.
	Protects() bool
	// Stale reports whether a stored value should be stored again in the provider's current
	// form: in clear under a protecting provider, or sealed under a previous KEK.
	Stale(stored string) bool
	Close() error
}

// IsPlain reports whether a stored value is in clear (not sealed, not a token handle).
func IsPlain(stored string) bool {
	return !strings.HasPrefix(stored, kekPrefix) && !strings.HasPrefix(stored, p11Prefix) && !strings.HasPrefix(stored, handlePrefix)
}

// unknownForm is the error for a stored form the provider does not open.
func unknownForm(stored string) error {
	switch {
	case strings.HasPrefix(stored, kekPrefix):
		return ErrKEKRequired
	case strings.HasPrefix(stored, p11Prefix), strings.HasPrefix(stored, handlePrefix):
		return ErrTokenRequired
	}
	return errors.New("custody: unknown stored key form")
}

// caKeyName is the name a CA key is sealed under: its certificate's fingerprint, so a sealed
// key opens only beside its own certificate.
func caKeyName(cert *x509.Certificate) string { return "ca-key/" + ca.Fingerprint(cert) }

// EggKeyName and DataKeyName are the names egg-sealing keys and data keys are sealed under.
func EggKeyName(kid string) string { return "egg-key/" + kid }

// JWTKeyName is the name JWT-SVID signing key kid is sealed under.
func JWTKeyName(kid string) string { return "jwt-key/" + kid }

// DataKeyName is the name of data key index of workload.
func DataKeyName(workload string, index int) string {
	return fmt.Sprintf("data-key/%s/%d", workload, index)
}

// firstCert parses the first certificate of a stored CA.
func firstCert(certPEM string) (*x509.Certificate, error) {
	certs, err := ca.ParseCerts([]byte(certPEM))
	if err != nil {
		return nil, err
	}
	return certs[0], nil
}

// withSigner builds a CA from a stored certificate and a key held elsewhere, with Parse's
// checks: the certificate is a CA and the key is its.
func withSigner(cert *x509.Certificate, key crypto.Signer) (*ca.CA, error) {
	if !cert.IsCA {
		return nil, errors.New("custody: certificate is not a CA")
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, errors.New("custody: key does not match certificate")
	}
	return &ca.CA{Cert: cert, Key: key}, nil
}

// ScanClear returns a description of every private key in clear in b (PEM private keys, age
// identities): what a test or an operator looks for in a state directory or a backup.
func ScanClear(b []byte) []string {
	var found []string
	s := string(b)
	for _, marker := range []string{"PRIVATE KEY-----", "AGE-SECRET-KEY-"} {
		if n := strings.Count(s, marker); n > 0 {
			found = append(found, fmt.Sprintf("%d × %q", n, marker))
		}
	}
	for rest := b; ; {
		blk, r := pem.Decode(rest)
		if blk == nil {
			break
		}
		rest = r
		if strings.Contains(blk.Type, "PRIVATE") {
			found = append(found, "PEM block "+blk.Type)
		}
	}
	return found
}
