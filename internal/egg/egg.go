package egg

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Prefix starts the text form of every version-1 Egg.
const Prefix = "seal-egg-v1."

// MaxLen bounds the text form of an Egg; anything longer is refused before decoding.
const MaxLen = 64 << 10

// Sentinel errors callers branch on.
var (
	// ErrMalformed: the text is not an Egg (wrong prefix, bad encoding, bad JSON, missing fields).
	ErrMalformed = errors.New("egg: malformed")
	// ErrUnknownKey: the Egg was sealed under a key id this ROT does not have.
	ErrUnknownKey = errors.New("egg: sealed under an unknown key")
	// ErrInauthentic: the ciphertext or its associated data was altered, or a foreign key sealed it.
	ErrInauthentic = errors.New("egg: not authentic")
	// ErrWrongTrustDomain: the Egg belongs to another trust domain.
	ErrWrongTrustDomain = errors.New("egg: wrong trust domain")
	// ErrExpired: the Egg's notAfter has passed.
	ErrExpired = errors.New("egg: expired")
)

// Outer is the readable envelope of an Egg.
type Outer struct {
	// ROT is the base URL of the ROT that minted the Egg.
	ROT string `json:"rot"`
	// ROTCA is the PEM bundle of the ROT CA; pods trust only this when calling the ROT.
	ROTCA string `json:"rotCA"`
	// TrustDomain is the SPIFFE trust domain of the ROT.
	TrustDomain string `json:"td"`
	// KeyID names the egg-sealing key.
	KeyID string `json:"kid"`
	// Ciphertext is the base64url AEAD ciphertext of the Claims.
	Ciphertext string `json:"ct"`
}

// Claims is what an Egg grants, readable only by the ROT.
type Claims struct {
	ID        string    `json:"id"`
	Workload  string    `json:"workload"`
	Peer      string    `json:"peer"`
	NotAfter  time.Time `json:"notAfter"`
	Hostnames []string  `json:"hostnames,omitempty"`
	// Incarnation is the workload's incarnation id when the Egg was minted: the Egg does not
	// redeem for another workload of the same name created after a delete. Eggs minted before
	// the field existed have none.
	Incarnation string `json:"incarnation,omitempty"`
}

// Parse decodes the text form of an Egg without opening it. Surrounding white space (a
// trailing newline from a file or Secret) is ignored.
func Parse(text string) (*Outer, error) {
	text = strings.TrimSpace(text)
	if len(text) > MaxLen {
		return nil, fmt.Errorf("%w: %d bytes is over the %d-byte limit", ErrMalformed, len(text), MaxLen)
	}
	body, ok := strings.CutPrefix(text, Prefix)
	if !ok {
		return nil, fmt.Errorf("%w: does not start with %q", ErrMalformed, Prefix)
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return nil, fmt.Errorf("%w: bad base64url: %v", ErrMalformed, err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var o Outer
	if err := dec.Decode(&o); err != nil {
		return nil, fmt.Errorf("%w: bad JSON: %v", ErrMalformed, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after JSON", ErrMalformed)
	}
	switch {
	case o.ROT == "":
		return nil, fmt.Errorf("%w: missing rot URL", ErrMalformed)
	case !strings.HasPrefix(o.ROT, "https://"):
		return nil, fmt.Errorf("%w: rot URL %q is not https", ErrMalformed, o.ROT)
	case o.ROTCA == "":
		return nil, fmt.Errorf("%w: missing rotCA", ErrMalformed)
	case o.TrustDomain == "":
		return nil, fmt.Errorf("%w: missing td", ErrMalformed)
	case o.KeyID == "":
		return nil, fmt.Errorf("%w: missing kid", ErrMalformed)
	case o.Ciphertext == "":
		return nil, fmt.Errorf("%w: missing ct", ErrMalformed)
	}
	return &o, nil
}

// String returns the text form of the Egg.
func (o *Outer) String() string {
	raw, _ := json.Marshal(o) // a struct of strings always marshals
	return Prefix + base64.RawURLEncoding.EncodeToString(raw)
}

// associatedData binds the outer fields that select the key and the ROT to the ciphertext.
func (o *Outer) associatedData() []byte {
	ad, _ := json.Marshal([]string{Prefix, o.ROT, o.TrustDomain, o.KeyID})
	return ad
}
