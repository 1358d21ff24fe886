//go:build cgo

package custody

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/miekg/pkcs11"
)

// oidP256 is the named curve of CKA_EC_PARAMS for P-256.
var oidP256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}

// ImportKey puts a CA key held in memory (a file-provider state, a backup being restored, or
// seal-rot migrate moving a ROT onto a token) onto the token once: the private key object is
// sensitive and non-extractable from then on. It returns the handle the state stores. The
// caller should then destroy every copy of the PEM key.
//
// crypto11 does not create private-key objects, so this opens a session of its own on the
// module crypto11 already initialised (PKCS#11 logins are per application: the user is
// logged in already).
func (p *PKCS11) ImportKey(k *ecdsa.PrivateKey) (Handle, error) {
	if k.Curve != elliptic.P256() {
		return Handle{}, errors.New("custody: only ECDSA P-256 CA keys are imported")
	}
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return Handle{}, fmt.Errorf("custody: %w", err)
	}
	h := Handle{ID: id, Label: "seal-ca-" + hex.EncodeToString(id[:4])}
	m := pkcs11.New(p.cfg.Module)
	if m == nil {
		return Handle{}, fmt.Errorf("custody: loading PKCS#11 module %s", p.cfg.Module)
	}
	if err := m.Initialize(); err != nil && !isRV(err, pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		return Handle{}, fmt.Errorf("custody: initialising %s: %w", p.cfg.Module, err)
	}
	slot, err := p.slot(m)
	if err != nil {
		return Handle{}, err
	}
	sess, err := m.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		return Handle{}, fmt.Errorf("custody: opening a session on token %q: %w", p.token, err)
	}
	defer m.CloseSession(sess)
	if err := m.Login(sess, pkcs11.CKU_USER, p.cfg.PIN); err != nil && !isRV(err, pkcs11.CKR_USER_ALREADY_LOGGED_IN) {
		return Handle{}, fmt.Errorf("custody: logging in to token %q: %w", p.token, err)
	}
	params, err := asn1.Marshal(oidP256)
	if err != nil {
		return Handle{}, fmt.Errorf("custody: %w", err)
	}
	point, err := asn1.Marshal(elliptic.Marshal(k.Curve, k.X, k.Y)) //nolint:staticcheck // CKA_EC_POINT is the uncompressed point in an OCTET STRING
	if err != nil {
		return Handle{}, fmt.Errorf("custody: %w", err)
	}
	common := func(class uint) []*pkcs11.Attribute {
		return []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, class),
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_EC),
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
			pkcs11.NewAttribute(pkcs11.CKA_ID, h.ID),
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, h.Label),
			pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, params),
		}
	}
	pub := append(common(pkcs11.CKO_PUBLIC_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
		pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, point))
	priv := append(common(pkcs11.CKO_PRIVATE_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE, k.D.FillBytes(make([]byte, 32))))
	if _, err := m.CreateObject(sess, pub); err != nil {
		return Handle{}, fmt.Errorf("custody: importing the public key onto token %q: %w", p.token, err)
	}
	if _, err := m.CreateObject(sess, priv); err != nil {
		return Handle{}, fmt.Errorf("custody: importing the private key onto token %q: %w", p.token, err)
	}
	signer, err := p.ctx.FindKeyPair(h.ID, nil)
	if err != nil || signer == nil {
		return Handle{}, fmt.Errorf("custody: the imported key %s is not found on token %q: %v", h, p.token, err)
	}
	return h, p.remember(h, signer)
}

// slot finds the slot of the configured token.
func (p *PKCS11) slot(m *pkcs11.Ctx) (uint, error) {
	slots, err := m.GetSlotList(true)
	if err != nil {
		return 0, fmt.Errorf("custody: listing slots: %w", err)
	}
	for _, s := range slots {
		ti, err := m.GetTokenInfo(s)
		if err == nil && ti.Label == p.token {
			return s, nil
		}
	}
	return 0, fmt.Errorf("custody: no token labelled %q in %s", p.token, p.cfg.Module)
}

func isRV(err error, rv uint) bool {
	var e pkcs11.Error
	return errors.As(err, &e) && uint(e) == rv
}
