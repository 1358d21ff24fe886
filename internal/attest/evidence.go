package attest

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"sort"

	"github.com/seal-dev/seal/internal/rotapi"
)

// Sentinel errors: each names one failed check. A refusal wraps exactly one.
var (
	ErrNoEvidence    = errors.New("attest: no evidence")
	ErrUnsupported   = errors.New("attest: unsupported evidence type")
	ErrMalformed     = errors.New("attest: malformed quote")
	ErrUnknownAK     = errors.New("attest: unknown AK")
	ErrBadSignature  = errors.New("attest: bad signature")
	ErrNonceUnknown  = errors.New("attest: unknown nonce")
	ErrNonceReused   = errors.New("attest: nonce reused")
	ErrNonceExpired  = errors.New("attest: nonce expired")
	ErrNonceOtherEgg = errors.New("attest: nonce of another Egg")
	ErrNonceMismatch = errors.New("attest: quote not over the nonce")
	ErrPCRDigest     = errors.New("attest: PCR digest mismatch")
	ErrPCRMismatch   = errors.New("attest: PCR mismatch")
	ErrBusy          = errors.New("attest: too many challenges outstanding")
)

// Verifier checks one type of evidence. nonce is the ROT's nonce (already checked fresh and
// bound to the Egg); the evidence must prove it was produced for it.
type Verifier interface {
	Verify(ev *rotapi.Evidence, nonce []byte, keys *KeySet, p *Policy) error
}

// Policy is a set of reference values: PCR index -> expected SHA-256 bank value.
type Policy struct {
	Name string
	PCRs map[int][]byte
}

// Indices are the policy's PCR indices, ascending.
func (p *Policy) Indices() []int {
	out := make([]int, 0, len(p.PCRs))
	for i := range p.PCRs {
		out = append(out, i)
	}
	sort.Ints(out)
	return out
}

// ParsePolicy reads reference values as stored: index ("7") -> 64 hex digits.
func ParsePolicy(name string, pcrs map[string]string) (*Policy, error) {
	if len(pcrs) == 0 {
		return nil, fmt.Errorf("attest: policy %q has no PCR values", name)
	}
	p := &Policy{Name: name, PCRs: map[int][]byte{}}
	for k, v := range pcrs {
		i, err := ParsePCRIndex(k)
		if err != nil {
			return nil, fmt.Errorf("attest: policy %q: %w", name, err)
		}
		b, err := hex.DecodeString(v)
		if err != nil || len(b) != sha256.Size {
			return nil, fmt.Errorf("attest: policy %q: PCR %d value %q is not 64 hex digits (a SHA-256 bank value)", name, i, v)
		}
		p.PCRs[i] = b
	}
	return p, nil
}

// MaxPCR is the highest PCR index accepted (PC Client TPMs have 24).
const MaxPCR = 23

// ParsePCRIndex reads a PCR index 0..MaxPCR written in decimal.
func ParsePCRIndex(s string) (int, error) {
	i := 0
	if s == "" || len(s) > 2 {
		return 0, fmt.Errorf("PCR index %q is not a number 0..%d", s, MaxPCR)
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("PCR index %q is not a number 0..%d", s, MaxPCR)
		}
		i = i*10 + int(c-'0')
	}
	if i > MaxPCR || (len(s) > 1 && s[0] == '0') {
		return 0, fmt.Errorf("PCR index %q is not a number 0..%d", s, MaxPCR)
	}
	return i, nil
}

// KeySet is the registered attestation keys, looked up by public key.
type KeySet struct {
	byDER map[string]string // PKIX DER -> name
}

// NewKeySet parses registered keys: name -> PEM public key.
func NewKeySet(keys map[string]string) (*KeySet, error) {
	ks := &KeySet{byDER: map[string]string{}}
	for name, p := range keys {
		pub, err := ParseAKPub(p)
		if err != nil {
			return nil, fmt.Errorf("attest: attestation key %q: %w", name, err)
		}
		der, _ := x509.MarshalPKIXPublicKey(pub)
		ks.byDER[string(der)] = name
	}
	return ks, nil
}

// Lookup returns the name of the registered key equal to pub.
func (ks *KeySet) Lookup(pub crypto.PublicKey) (string, bool) {
	if ks == nil {
		return "", false
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", false
	}
	name, ok := ks.byDER[string(der)]
	return name, ok
}

// ParseAKPub reads a PEM PKIX public key (ECDSA or RSA), as seal-init attest enroll prints.
func ParseAKPub(s string) (crypto.PublicKey, error) {
	b, _ := pem.Decode([]byte(s))
	if b == nil || b.Type != "PUBLIC KEY" {
		return nil, errors.New("not a PEM PUBLIC KEY (the output of seal-init attest enroll)")
	}
	pub, err := x509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing the public key: %w", err)
	}
	return pub, nil
}

// Fingerprint is the SHA-256 of a public key's PKIX DER, hex.
func Fingerprint(pub crypto.PublicKey) string {
	der, _ := x509.MarshalPKIXPublicKey(pub)
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// Checker checks a redemption's evidence: the nonce first, then the evidence by its type.
type Checker struct {
	Nonces    *Nonces
	Verifiers map[string]Verifier
}

// NewChecker returns a Checker with the TPM 2.0 verifier.
func NewChecker(n *Nonces) *Checker {
	return &Checker{Nonces: n, Verifiers: map[string]Verifier{rotapi.EvidenceTPM2: TPM2{}}}
}

// Check verifies ev for a redemption of the Egg with id egg under policy p. The nonce is used
// up whether or not the rest verifies.
func (c *Checker) Check(egg string, ev *rotapi.Evidence, keys *KeySet, p *Policy) error {
	if ev == nil {
		return fmt.Errorf("%w: the workload requires attestation under policy %q; run seal-init with --attest tpm2", ErrNoEvidence, p.Name)
	}
	v, ok := c.Verifiers[ev.Type]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnsupported, ev.Type)
	}
	nonce, err := base64.StdEncoding.DecodeString(ev.Nonce)
	if err != nil || len(nonce) == 0 {
		return fmt.Errorf("%w: nonce is not base64", ErrMalformed)
	}
	if err := c.Nonces.Consume(egg, nonce); err != nil {
		return err
	}
	return v.Verify(ev, nonce, keys, p)
}
