package egg

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

// KeySize is the size of an egg-sealing key (XChaCha20-Poly1305).
const KeySize = chacha20poly1305.KeySize

// Keyring holds the ROT's egg-sealing keys by id. New Eggs are sealed under Current; any key in
// Keys opens, so the sealing key can rotate while older Eggs stay valid.
type Keyring struct {
	Current string
	Keys    map[string][]byte
}

// NewKey returns a fresh random egg-sealing key read from r (crypto/rand when nil).
func NewKey(r io.Reader) ([]byte, error) {
	if r == nil {
		r = rand.Reader
	}
	k := make([]byte, KeySize)
	if _, err := io.ReadFull(r, k); err != nil {
		return nil, fmt.Errorf("egg: reading key: %w", err)
	}
	return k, nil
}

// Seal mints an Egg for the claims under the keyring's current key. rnd supplies the nonce
// (crypto/rand when nil).
func Seal(kr *Keyring, rot, rotCA, trustDomain string, c Claims, rnd io.Reader) (*Outer, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	key, ok := kr.Keys[kr.Current]
	if !ok {
		return nil, fmt.Errorf("egg: current key %q not in keyring", kr.Current)
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("egg: %w", err)
	}
	plain, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("egg: encoding claims: %w", err)
	}
	o := &Outer{ROT: rot, ROTCA: rotCA, TrustDomain: trustDomain, KeyID: kr.Current}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := io.ReadFull(rnd, nonce); err != nil {
		return nil, fmt.Errorf("egg: reading nonce: %w", err)
	}
	o.Ciphertext = base64.RawURLEncoding.EncodeToString(aead.Seal(nonce, nonce, plain, o.associatedData()))
	return o, nil
}

// Open authenticates and decrypts an Egg minted for trustDomain and checks that it has not
// expired at now. It does not check revocation or that the workload exists: that is the ROT's.
func Open(kr *Keyring, trustDomain string, o *Outer, now time.Time) (*Claims, error) {
	if o.TrustDomain != trustDomain {
		return nil, fmt.Errorf("%w: minted for %q, this ROT serves %q", ErrWrongTrustDomain, o.TrustDomain, trustDomain)
	}
	key, ok := kr.Keys[o.KeyID]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownKey, o.KeyID)
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("egg: %w", err)
	}
	ct, err := base64.RawURLEncoding.DecodeString(o.Ciphertext)
	if err != nil {
		return nil, fmt.Errorf("%w: bad base64url in ct", ErrMalformed)
	}
	if len(ct) < aead.NonceSize()+aead.Overhead() {
		return nil, fmt.Errorf("%w: ct too short", ErrMalformed)
	}
	plain, err := aead.Open(nil, ct[:aead.NonceSize()], ct[aead.NonceSize():], o.associatedData())
	if err != nil {
		return nil, ErrInauthentic
	}
	var c Claims
	if err := json.Unmarshal(plain, &c); err != nil {
		return nil, fmt.Errorf("%w: sealed claims are not JSON", ErrMalformed)
	}
	if c.ID == "" || c.Workload == "" || c.Peer == "" {
		return nil, fmt.Errorf("%w: sealed claims lack id, workload or peer", ErrMalformed)
	}
	if !now.Before(c.NotAfter) {
		return nil, fmt.Errorf("%w: egg %s expired at %s", ErrExpired, c.ID, c.NotAfter.UTC().Format(time.RFC3339))
	}
	return &c, nil
}
