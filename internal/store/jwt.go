package store

import "time"

// JWTKey is one JWT-SVID signing key of the trust domain (ES256). The newest valid key signs;
// every unexpired key is published in the bundle, so tokens signed before a rotation verify
// until they expire.
type JWTKey struct {
	// ID is the JWS "kid" and the key's id in the bundle.
	ID       string    `json:"id"`
	Key      string    `json:"key"` // PKCS#8 PEM
	Created  time.Time `json:"created"`
	NotAfter time.Time `json:"notAfter"`
}
