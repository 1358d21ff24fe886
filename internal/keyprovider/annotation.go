package keyprovider

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/seal-dev/seal/internal/rotapi"
)

// AnnotationID is the layer annotation ocicrypt reads for the provider named "seal".
const AnnotationID = "org.opencontainers.image.enc.keys.provider.seal"

// ProviderName is the name of the provider in ocicrypt's keyprovider configuration.
const ProviderName = "seal"

// Sentinel errors callers branch on.
var (
	ErrAnnotation = errors.New("keyprovider: not a Seal key annotation")
	ErrKey        = errors.New("keyprovider: the image key does not open this layer's key")
)

// maxAnnotation bounds an annotation (an Egg is well under 1 KiB, ocicrypt options ~200 B).
const maxAnnotation = 16 << 10

// Annotation is a layer's wrapped key.
type Annotation struct {
	V int `json:"v"`
	// ImageKey is the id of the image key at the ROT.
	ImageKey string `json:"imageKey"`
	// Egg is the image's Egg (also in its Egg layer), with which the node asks for the key.
	Egg   string `json:"egg"`
	Nonce []byte `json:"nonce"`
	// Sealed is the layer's ocicrypt options under AES-256-GCM with the image key.
	Sealed []byte `json:"sealed"`
}

func aad(id string) []byte { return []byte("seal.dev image key v1 " + id) }

// Wrap seals optsData (ocicrypt's private layer options) under the 32-byte image key.
func Wrap(key []byte, id, egg string, optsData []byte, rand io.Reader) ([]byte, error) {
	if !ValidID(id) || egg == "" {
		return nil, fmt.Errorf("keyprovider: wrapping needs an image key id and an Egg")
	}
	g, err := gcm(key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, g.NonceSize())
	if _, err := io.ReadFull(rand, nonce); err != nil {
		return nil, fmt.Errorf("keyprovider: reading randomness: %w", err)
	}
	return json.Marshal(Annotation{V: 1, ImageKey: id, Egg: egg, Nonce: nonce, Sealed: g.Seal(nil, nonce, optsData, aad(id))})
}

// Open returns the layer options sealed in a under key.
func (a *Annotation) Open(key []byte) ([]byte, error) {
	g, err := gcm(key)
	if err != nil {
		return nil, err
	}
	out, err := g.Open(nil, a.Nonce, a.Sealed, aad(a.ImageKey))
	if err != nil {
		return nil, fmt.Errorf("%w (image key %s)", ErrKey, a.ImageKey)
	}
	return out, nil
}

func gcm(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("keyprovider: an image key is 32 bytes, not %d", len(key))
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// ParseAnnotation reads a wrapped key (the bytes ocicrypt hands the provider).
func ParseAnnotation(b []byte) (*Annotation, error) {
	if len(b) > maxAnnotation {
		return nil, fmt.Errorf("%w: %d bytes (at most %d)", ErrAnnotation, len(b), maxAnnotation)
	}
	var a Annotation
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrAnnotation, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the JSON object", ErrAnnotation)
	}
	switch {
	case a.V != 1:
		return nil, fmt.Errorf("%w: version %d (this seal-keyprovider reads 1)", ErrAnnotation, a.V)
	case !ValidID(a.ImageKey):
		return nil, fmt.Errorf("%w: image key id %q", ErrAnnotation, clip(a.ImageKey))
	case a.Egg == "":
		return nil, fmt.Errorf("%w: no Egg", ErrAnnotation)
	case len(a.Nonce) != 12 || len(a.Sealed) < 16:
		return nil, fmt.Errorf("%w: nonce or sealed key of the wrong size", ErrAnnotation)
	}
	return &a, nil
}

// ValidID reports whether id is an image key id (rotapi.ValidImageKeyID).
func ValidID(id string) bool { return rotapi.ValidImageKeyID(id) }

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
