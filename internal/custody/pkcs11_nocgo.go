//go:build !cgo

package custody

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/x509"
	"errors"

	"github.com/seal-dev/seal/internal/ca"
)

// ErrNotOnToken: a handle in the state names a key the token does not hold.
var ErrNotOnToken = errors.New("custody: the key is not on this PKCS#11 token")

// ErrNoCgo: this seal-rot was built without cgo, which PKCS#11 modules need.
var ErrNoCgo = errors.New("custody: --key-provider pkcs11 needs a seal-rot built with cgo (CGO_ENABLED=1 go build ./cmd/rot; see docs/key-custody.md)")

// PKCS11 is not available without cgo.
type PKCS11 struct{ Keys }

// OpenPKCS11 fails without cgo.
func OpenPKCS11(PKCS11Config) (*PKCS11, error) { return nil, ErrNoCgo }

// ImportKey fails without cgo.
func (p *PKCS11) ImportKey(*ecdsa.PrivateKey) (Handle, error) { return Handle{}, ErrNoCgo }

// FindLabel fails without cgo.
func (p *PKCS11) FindLabel(string) (crypto.Signer, error) { return nil, ErrNoCgo }

// FindUpstream fails without cgo.
func (p *PKCS11) FindUpstream(string) (*ca.CA, error) { return nil, ErrNoCgo }

// ImportCertificate fails without cgo.
func (p *PKCS11) ImportCertificate(string, *x509.Certificate) error { return ErrNoCgo }
