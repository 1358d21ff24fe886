package sealimage

import (
	"crypto/rand"
	"errors"
	"sync"

	"github.com/containers/ocicrypt"
	"github.com/containers/ocicrypt/config"

	"github.com/seal-dev/seal/internal/keyprovider"
)

// Parameters of ocicrypt's encrypt and decrypt configs the in-process wrapper reads.
const (
	paramKey = "seal-image-key"
	paramID  = "seal-image-key-id"
	paramEgg = "seal-egg"
)

// wrapper is an ocicrypt KeyWrapper that wraps (and, given the key, unwraps) in-process.
type wrapper struct{}

func (wrapper) WrapKeys(ec *config.EncryptConfig, optsData []byte) ([]byte, error) {
	k, id, egg := ec.Parameters[paramKey], ec.Parameters[paramID], ec.Parameters[paramEgg]
	if len(k) == 0 {
		return nil, nil // not a Seal encryption
	}
	if len(id) == 0 || len(egg) == 0 {
		return nil, errors.New("sealimage: encrypt config without image key id or Egg")
	}
	return keyprovider.Wrap(k[0], string(id[0]), string(egg[0]), optsData, rand.Reader)
}

func (wrapper) UnwrapKey(dc *config.DecryptConfig, annotation []byte) ([]byte, error) {
	a, err := keyprovider.ParseAnnotation(annotation)
	if err != nil {
		return nil, err
	}
	for _, k := range dc.Parameters[paramKey] {
		if out, err := a.Open(k); err == nil {
			return out, nil
		}
	}
	return nil, keyprovider.ErrKey
}

func (wrapper) GetAnnotationID() string { return keyprovider.AnnotationID }

func (wrapper) NoPossibleKeys(p map[string][][]byte) bool { return len(p[paramKey]) == 0 }

func (wrapper) GetPrivateKeys(p map[string][][]byte) [][]byte { return p[paramKey] }

func (wrapper) GetKeyIdsFromPacket(string) ([]uint64, error) { return nil, nil }

func (wrapper) GetRecipients(string) ([]string, error) { return nil, nil }

var registerOnce sync.Once

// register makes ocicrypt wrap (and unwrap, given the key) layer keys for the provider "seal"
// in this process. It replaces a "seal" provider from OCICRYPT_KEYPROVIDER_CONFIG.
func register() {
	registerOnce.Do(func() { ocicrypt.RegisterKeyWrapper("provider."+keyprovider.ProviderName, wrapper{}) })
}

// encryptConfig is ocicrypt's encrypt config wrapping layer keys under the image key id/key
// with the image's Egg (after register).
func encryptConfig(key []byte, id, egg string) *config.EncryptConfig {
	p := map[string][][]byte{paramKey: {key}, paramID: {[]byte(id)}, paramEgg: {[]byte(egg)}}
	return &config.EncryptConfig{Parameters: p, DecryptConfig: config.DecryptConfig{Parameters: map[string][][]byte{paramKey: {key}}}}
}

// decryptConfig is ocicrypt's decrypt config opening layer keys with the image key in this
// process (after register): for tests and tools holding the key, not for nodes.
func decryptConfig(key []byte) *config.DecryptConfig {
	return &config.DecryptConfig{Parameters: map[string][][]byte{paramKey: {key}}}
}
