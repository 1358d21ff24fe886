//go:build cgo

package custody

import (
	"crypto"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/ThalesGroup/crypto11"

	"github.com/seal-dev/seal/internal/ca"
)

// wrapLabel is the CKA_LABEL of the token's AES-256 wrapping key.
const wrapLabel = "seal-wrap"

// gcmNonce is the AES-GCM IV length used on the token.
const gcmNonce = 12

// ErrNotOnToken: a handle in the state names a key the token does not hold (another token, or
// the state was copied without its token).
var ErrNotOnToken = errors.New("custody: the key is not on this PKCS#11 token")

// PKCS11 is the pkcs11 key provider: CA keys generated on the token, non-extractable, and the
// other stored secrets sealed with AES-256-GCM by a key on the token.
type PKCS11 struct {
	ctx   *crypto11.Context
	cfg   PKCS11Config
	token string

	mu      sync.Mutex
	byPub   map[string]Handle        // public key DER -> handle, for Marshal
	signers map[string]crypto.Signer // handle -> key
	wraps   map[string]cipher.AEAD   // wrapping key id (hex) -> AES-GCM on the token
	wrapID  string                   // the wrapping key Seal uses
}

var _ Keys = (*PKCS11)(nil)

// OpenPKCS11 logs in to the token and finds its wrapping key (creating it on first use).
func OpenPKCS11(cfg PKCS11Config) (*PKCS11, error) {
	ctx, err := crypto11.Configure(&crypto11.Config{Path: cfg.Module, TokenLabel: cfg.Token, Pin: cfg.PIN, GCMIVLength: gcmNonce})
	if err != nil {
		return nil, fmt.Errorf("custody: opening PKCS#11 token %q with module %s: %w", cfg.Token, cfg.Module, err)
	}
	p := &PKCS11{ctx: ctx, cfg: cfg, token: cfg.Token, byPub: map[string]Handle{}, signers: map[string]crypto.Signer{}, wraps: map[string]cipher.AEAD{}}
	keys, err := ctx.FindKeys(nil, []byte(wrapLabel))
	if err != nil {
		ctx.Close()
		return nil, fmt.Errorf("custody: finding the wrapping key on token %q: %w", cfg.Token, err)
	}
	if len(keys) == 0 {
		id := make([]byte, 16)
		if _, err := rand.Read(id); err != nil {
			ctx.Close()
			return nil, fmt.Errorf("custody: %w", err)
		}
		k, err := ctx.GenerateSecretKeyWithLabel(id, []byte(wrapLabel), 256, crypto11.CipherAES)
		if err != nil {
			ctx.Close()
			return nil, fmt.Errorf("custody: generating the AES wrapping key on token %q: %w", cfg.Token, err)
		}
		keys = append(keys, k)
	}
	for _, k := range keys {
		a, err := ctx.GetAttribute(k, crypto11.CkaId)
		if err != nil {
			ctx.Close()
			return nil, fmt.Errorf("custody: reading the wrapping key's id: %w", err)
		}
		g, err := k.NewGCM()
		if err != nil {
			ctx.Close()
			return nil, fmt.Errorf("custody: the token's wrapping key: %w", err)
		}
		id := hex.EncodeToString(a.Value)
		p.wraps[id] = g
		if p.wrapID == "" || id < p.wrapID { // the same choice on every replica
			p.wrapID = id
		}
	}
	return p, nil
}

// Provider is "pkcs11".
func (p *PKCS11) Provider() string { return "pkcs11" }

// Protects is true: nothing is stored in clear.
func (p *PKCS11) Protects() bool { return true }

// Stale reports a value in clear, or sealed under a wrapping key other than the one Seal uses.
func (p *PKCS11) Stale(stored string) bool {
	if IsPlain(stored) {
		return true
	}
	rest, ok := strings.CutPrefix(stored, p11Prefix)
	return ok && !strings.HasPrefix(rest, p.wrapID+":")
}

// Close logs out and releases the module.
func (p *PKCS11) Close() error { return p.ctx.Close() }

// NewKey generates an ECDSA P-256 key pair on the token (sensitive, non-extractable).
func (p *PKCS11) NewKey() (crypto.Signer, error) {
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return nil, fmt.Errorf("custody: %w", err)
	}
	h := Handle{ID: id, Label: "seal-ca-" + hex.EncodeToString(id[:4])}
	k, err := p.ctx.GenerateECDSAKeyPairWithLabel(id, []byte(h.Label), elliptic.P256())
	if err != nil {
		return nil, fmt.Errorf("custody: generating a CA key on token %q: %w", p.token, err)
	}
	return k, p.remember(h, k)
}

func (p *PKCS11) remember(h Handle, k crypto.Signer) error {
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		return fmt.Errorf("custody: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.byPub[string(der)] = h
	p.signers[h.String()] = k
	return nil
}

// Marshal returns the handle of c's key. A key held in memory (state written by the file
// provider) is imported onto the token first, non-extractable: ImportKey.
func (p *PKCS11) Marshal(c *ca.CA) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(c.Key.Public())
	if err != nil {
		return "", fmt.Errorf("custody: %w", err)
	}
	p.mu.Lock()
	h, ok := p.byPub[string(der)]
	p.mu.Unlock()
	if ok {
		return h.String(), nil
	}
	ek, ok := c.Key.(*ecdsa.PrivateKey)
	if !ok {
		return "", fmt.Errorf("custody: key %T is neither on token %q nor an ECDSA key to import", c.Key, p.token)
	}
	h, err = p.ImportKey(ek)
	if err != nil {
		return "", err
	}
	return h.String(), nil
}

// Open returns the CA of a stored certificate and key handle (or PEM key, which the ROT then
// imports: see Marshal).
func (p *PKCS11) Open(certPEM, key string) (*ca.CA, error) {
	if strings.HasPrefix(key, pemPrefix) {
		return ca.Parse([]byte(certPEM), []byte(key))
	}
	if !strings.HasPrefix(key, handlePrefix) {
		return nil, unknownForm(key)
	}
	h, err := ParseHandle(key)
	if err != nil {
		return nil, err
	}
	certs, err := ca.ParseCerts([]byte(certPEM))
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	k := p.signers[h.String()]
	p.mu.Unlock()
	if k == nil {
		found, err := p.ctx.FindKeyPairs(h.ID, nil)
		if err != nil {
			return nil, fmt.Errorf("custody: finding %s on token %q: %w", h, p.token, err)
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("%w: %s is not on token %q", ErrNotOnToken, h, p.token)
		}
		k = found[0]
		if err := p.remember(h, k); err != nil {
			return nil, err
		}
	}
	c, err := withSigner(certs[0], k)
	if err != nil {
		return nil, err
	}
	c.Chain = certs[1:]
	return c, nil
}

// FindUpstream returns the organisation's CA whose key pair and certificate are on the token
// under label (--upstream-ca-pkcs11-label without --upstream-ca-cert). The certificate's
// issuers are not on the token: the ROT CA's chain then holds the upstream certificate only.
func (p *PKCS11) FindUpstream(label string) (*ca.CA, error) {
	key, err := p.FindLabel(label)
	if err != nil {
		return nil, err
	}
	cert, err := p.ctx.FindCertificate(nil, []byte(label), nil)
	if err != nil {
		return nil, fmt.Errorf("custody: finding certificate %q on token %q: %w", label, p.token, err)
	}
	if cert == nil {
		return nil, fmt.Errorf("%w: no certificate labelled %q on token %q: give it with --upstream-ca-cert", ErrNotOnToken, label, p.token)
	}
	return ca.NewUpstream([]*x509.Certificate{cert}, key)
}

// ImportCertificate stores cert on the token under label (a setup step for FindUpstream;
// pkcs11-tool --write-object does the same).
func (p *PKCS11) ImportCertificate(label string, cert *x509.Certificate) error {
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return fmt.Errorf("custody: %w", err)
	}
	if err := p.ctx.ImportCertificateWithLabel(id, []byte(label), cert); err != nil {
		return fmt.Errorf("custody: importing certificate %q onto token %q: %w", label, p.token, err)
	}
	return nil
}

// FindLabel returns the key pair labelled label on the token (an organisation's CA key for
// --upstream-ca-pkcs11-label). Exactly one must carry the label.
func (p *PKCS11) FindLabel(label string) (crypto.Signer, error) {
	found, err := p.ctx.FindKeyPairs(nil, []byte(label))
	if err != nil {
		return nil, fmt.Errorf("custody: finding key %q on token %q: %w", label, p.token, err)
	}
	if len(found) != 1 {
		return nil, fmt.Errorf("%w: %d key pairs labelled %q on token %q, want one", ErrNotOnToken, len(found), label, p.token)
	}
	return found[0], nil
}

// Seal encrypts secret with AES-256-GCM on the token (name as associated data).
func (p *PKCS11) Seal(name string, secret []byte) (s string, err error) {
	g := p.wraps[p.wrapID]
	nonce := make([]byte, gcmNonce)
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("custody: %w", err)
	}
	defer func() { // crypto11's AEAD panics when the token fails
		if r := recover(); r != nil {
			err = fmt.Errorf("custody: sealing %s on token %q: %v", name, p.token, r)
		}
	}()
	ct := g.Seal(append([]byte(nil), nonce...), nonce, secret, p.ad(name))
	return p11Prefix + p.wrapID + ":" + base64.RawStdEncoding.EncodeToString(ct), nil
}

func (p *PKCS11) ad(name string) []byte { return []byte(p11Prefix + name) }

// Unseal opens a value sealed by Seal; a value in clear is returned as it is (the ROT seals
// it on start).
func (p *PKCS11) Unseal(name, stored string) ([]byte, error) {
	rest, ok := strings.CutPrefix(stored, p11Prefix)
	if !ok {
		if IsPlain(stored) {
			return []byte(stored), nil
		}
		return nil, unknownForm(stored)
	}
	id, b64, ok := strings.Cut(rest, ":")
	ct, err := base64.RawStdEncoding.DecodeString(b64)
	if !ok || err != nil || len(ct) < gcmNonce+16 {
		return nil, fmt.Errorf("%w: %s is malformed", ErrOpen, name)
	}
	g := p.wraps[id]
	if g == nil {
		return nil, fmt.Errorf("%w: %s was sealed by wrapping key id %s, which token %q does not hold", ErrNotOnToken, name, id, p.token)
	}
	out, err := g.Open(nil, ct[:gcmNonce], ct[gcmNonce:], p.ad(name))
	if err != nil {
		return nil, fmt.Errorf("%w: %s (tampered, or moved from another record)", ErrOpen, name)
	}
	return out, nil
}
