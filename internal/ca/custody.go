package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
)

// Custody is where CA keys live and what the ROT's state stores in their place: PKCS#8 PEM, an
// envelope-encrypted PEM, or a handle of a key on a PKCS#11 token (internal/custody). The same
// custody protects the other secrets the ROT keeps beside them (egg-sealing keys, workload
// data keys): Seal's name is bound to the ciphertext, so a sealed value only opens under the
// name it was sealed for.
type Custody interface {
	// NewKey creates a CA key (ECDSA P-256).
	NewKey() (crypto.Signer, error)
	// Marshal returns what state stores for c's key.
	Marshal(c *CA) (string, error)
	// Open returns the CA of a stored certificate and key (Parse for PEM), checking they
	// belong together.
	Open(certPEM, key string) (*CA, error)
	// Seal returns the stored form of a secret named name; Unseal reverses it.
	Seal(name string, secret []byte) (string, error)
	Unseal(name, stored string) ([]byte, error)
}

func (o Options) newKey() (crypto.Signer, error) {
	if o.Custody != nil {
		return o.Custody.NewKey()
	}
	return ecdsa.GenerateKey(elliptic.P256(), o.rand())
}

// StoredKey is what state stores for c's key: o.Custody's form, or its PKCS#8 PEM.
func (o Options) StoredKey(c *CA) (string, error) {
	if o.Custody != nil {
		return o.Custody.Marshal(c)
	}
	b, err := c.KeyPEM()
	return string(b), err
}

// Open reads a stored CA: o.Custody's Open, or Parse.
func (o Options) Open(certPEM, key string) (*CA, error) {
	if o.Custody != nil {
		return o.Custody.Open(certPEM, key)
	}
	return Parse([]byte(certPEM), []byte(key))
}

// Seal is o.Custody's Seal; without one the secret is stored as it is.
func (o Options) Seal(name string, secret []byte) (string, error) {
	if o.Custody != nil {
		return o.Custody.Seal(name, secret)
	}
	return string(secret), nil
}

// Unseal is o.Custody's Unseal; without one the stored form is the secret.
func (o Options) Unseal(name, stored string) ([]byte, error) {
	if o.Custody != nil {
		return o.Custody.Unseal(name, stored)
	}
	return []byte(stored), nil
}
