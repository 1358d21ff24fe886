package invite

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// Prefix starts every invite of this format.
const Prefix = "seal-invite-v1."

// MaxLen bounds an invite's text; anything longer is refused before it is decoded.
const MaxLen = 4096

// SecretSize is the size of an invite's secret in bytes.
const SecretSize = 32

// Sentinel errors: each is a reason a join is refused, named in the message.
var (
	ErrMalformed = errors.New("invite: malformed")
	ErrTampered  = errors.New("invite: tampered (it is not the invite the inviting ROT issued)")
	ErrExpired   = errors.New("invite: expired")
	ErrUsed      = errors.New("invite: already used")
	ErrUnknown   = errors.New("invite: unknown to the inviting ROT")
	// ErrPinMismatch: the ROT at the invite's URL does not serve the bundle the invite names.
	ErrPinMismatch = errors.New("invite: the ROT at the invite's URL does not serve the bundle the invite pins")
)

// Invite is the decoded payload.
type Invite struct {
	TrustDomain string `json:"td"`
	// URL is the inviting ROT's base URL (https://HOST[:PORT]).
	URL string `json:"url"`
	// BundleDigest is Digest of the inviting trust domain's X.509 authorities.
	BundleDigest string    `json:"bundle"`
	ID           string    `json:"id"`
	Secret       []byte    `json:"secret"`
	NotAfter     time.Time `json:"exp"`
}

// New returns an invite with a fresh id and secret read from rand.
func New(td, rotURL, digest string, notAfter time.Time, rand io.Reader) (*Invite, error) {
	b := make([]byte, 12+SecretSize)
	if _, err := io.ReadFull(rand, b); err != nil {
		return nil, fmt.Errorf("invite: randomness: %w", err)
	}
	return &Invite{TrustDomain: td, URL: rotURL, BundleDigest: digest, ID: "inv-" + hex.EncodeToString(b[:12]),
		Secret: b[12:], NotAfter: notAfter.UTC().Truncate(time.Second)}, nil
}

// Encode returns the invite's text.
func (i *Invite) Encode() string {
	p, _ := json.Marshal(i) // only strings, bytes and a time
	head := Prefix + base64.RawURLEncoding.EncodeToString(p)
	return head + "." + base64.RawURLEncoding.EncodeToString(check(i.Secret, head))
}

// SecretDigest is what the inviting ROT keeps of the secret.
func (i *Invite) SecretDigest() string {
	h := sha256.Sum256(i.Secret)
	return hex.EncodeToString(h[:])
}

func check(secret []byte, head string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(head))
	return m.Sum(nil)
}

// Parse decodes an invite's text (surrounding white space ignored) and checks its form and
// check value. It does not look at the expiry (Check does).
func Parse(text string) (*Invite, error) {
	text = strings.TrimSpace(text)
	if len(text) > MaxLen {
		return nil, fmt.Errorf("%w: over %d bytes", ErrMalformed, MaxLen)
	}
	rest, ok := strings.CutPrefix(text, Prefix)
	if !ok {
		return nil, fmt.Errorf("%w: it does not start with %q", ErrMalformed, Prefix)
	}
	payload, sum, ok := strings.Cut(rest, ".")
	if !ok {
		return nil, fmt.Errorf("%w: no check part", ErrMalformed)
	}
	p, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return nil, fmt.Errorf("%w: payload is not base64url: %v", ErrMalformed, err)
	}
	got, err := base64.RawURLEncoding.DecodeString(sum)
	if err != nil {
		return nil, fmt.Errorf("%w: check is not base64url: %v", ErrMalformed, err)
	}
	var i Invite
	dec := json.NewDecoder(bytes.NewReader(p))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&i); err != nil || dec.More() {
		return nil, fmt.Errorf("%w: payload is not an invite: %v", ErrMalformed, err)
	}
	if err := i.valid(); err != nil {
		return nil, err
	}
	if !hmac.Equal(got, check(i.Secret, Prefix+payload)) {
		return nil, fmt.Errorf("%w: its check value does not match its contents", ErrTampered)
	}
	return &i, nil
}

func (i *Invite) valid() error {
	td, err := spiffeid.TrustDomainFromString(i.TrustDomain)
	if err != nil || td.Name() != i.TrustDomain {
		return fmt.Errorf("%w: trust domain %q", ErrMalformed, i.TrustDomain)
	}
	u, err := url.Parse(i.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%w: ROT URL %q is not https://HOST[:PORT]", ErrMalformed, i.URL)
	}
	if d, ok := strings.CutPrefix(i.BundleDigest, "sha256:"); !ok || len(d) != 64 || strings.Trim(d, "0123456789abcdef") != "" {
		return fmt.Errorf("%w: bundle digest %q is not sha256:<64 hex digits>", ErrMalformed, i.BundleDigest)
	}
	if !strings.HasPrefix(i.ID, "inv-") || len(i.ID) != 28 || strings.Trim(i.ID[4:], "0123456789abcdef") != "" {
		return fmt.Errorf("%w: id %q", ErrMalformed, i.ID)
	}
	if len(i.Secret) != SecretSize {
		return fmt.Errorf("%w: secret of %d bytes, want %d", ErrMalformed, len(i.Secret), SecretSize)
	}
	if i.NotAfter.IsZero() {
		return fmt.Errorf("%w: no expiry", ErrMalformed)
	}
	return nil
}

// CheckExpiry refuses an invite whose expiry has passed at now.
func (i *Invite) CheckExpiry(now time.Time) error {
	if !now.Before(i.NotAfter) {
		return fmt.Errorf("%w at %s", ErrExpired, i.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// BundleURL is the inviting ROT's bundle endpoint.
func (i *Invite) BundleURL() string { return strings.TrimSuffix(i.URL, "/") + "/v1/bundle" }

// Digest is the pin of a trust domain's bundle: sha256 over its X.509 authorities' DER, sorted,
// each preceded by its length. Refresh hints and sequence numbers do not change it; a new CA
// does.
func Digest(authorities []*x509.Certificate) string {
	ders := make([][]byte, 0, len(authorities))
	for _, c := range authorities {
		ders = append(ders, c.Raw)
	}
	slices.SortFunc(ders, bytes.Compare)
	h := sha256.New()
	for _, d := range ders {
		fmt.Fprintf(h, "%d:", len(d))
		h.Write(d)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}
