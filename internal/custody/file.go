package custody

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/seal-dev/seal/internal/ca"
)

// KEKSize is the size of a key-encryption key (XChaCha20-Poly1305).
const KEKSize = chacha20poly1305.KeySize

// maxKEKFile bounds what ReadKEKFile reads.
const maxKEKFile = 4096

// File is the file key provider: CA keys in memory, stored as PKCS#8 PEM, and with a KEK every
// stored secret envelope-encrypted.
type File struct {
	kek  []byte // nil: store in clear
	kid  string
	rand io.Reader
	old  map[string][]byte // previous KEKs by id: they open, never seal
}

var _ Keys = (*File)(nil)

// NewFile returns the file provider. kek is nil (store keys in clear, as before) or KEKSize
// bytes; rnd supplies nonces and keys (crypto/rand when nil). previous are KEKs the state may
// still be sealed under (a KEK rotation, --kek-previous-file): values sealed under them open,
// are Stale, and the ROT seals them again under kek on start.
func NewFile(kek []byte, rnd io.Reader, previous ...[]byte) (*File, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	f := &File{rand: rnd, old: map[string][]byte{}}
	for _, p := range previous {
		if kek == nil || len(p) != KEKSize {
			return nil, fmt.Errorf("custody: a previous key-encryption key needs a current one and is %d bytes", KEKSize)
		}
		f.old[KEKID(p)] = append([]byte(nil), p...)
	}
	if kek != nil {
		if len(kek) != KEKSize {
			return nil, fmt.Errorf("custody: a key-encryption key is %d bytes, got %d", KEKSize, len(kek))
		}
		f.kek = append([]byte(nil), kek...)
		f.kid = KEKID(kek)
	}
	return f, nil
}

// KEKID is the public id of a KEK written beside what it seals (the first 8 bytes of a hash
// of it, hex): an error can then say that a value was sealed under another KEK.
func KEKID(kek []byte) string {
	sum := sha256.Sum256(append([]byte("seal kek id\x00"), kek...))
	return hex.EncodeToString(sum[:8])
}

// ParseKEK reads a key-encryption key file's content: exactly KEKSize raw bytes, or their
// hex or standard base64 encoding on one line.
func ParseKEK(b []byte) ([]byte, error) {
	if len(b) == KEKSize {
		return append([]byte(nil), b...), nil
	}
	s := strings.TrimSpace(string(b))
	if k, err := hex.DecodeString(s); err == nil && len(k) == KEKSize {
		return k, nil
	}
	if k, err := base64.StdEncoding.DecodeString(s); err == nil && len(k) == KEKSize {
		return k, nil
	}
	return nil, fmt.Errorf("custody: a key-encryption key file holds %d random bytes, raw, hex or base64 (head -c 32 /dev/urandom > FILE); this one holds %d bytes that are none of those", KEKSize, len(b))
}

// ReadKEKFile reads and parses a KEK file. It refuses a file others may read.
func ReadKEKFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("custody: --kek-file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("custody: --kek-file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("custody: --kek-file %s is mode %#o: make it readable by its owner only (chmod 600)", path, fi.Mode().Perm())
	}
	b, err := io.ReadAll(io.LimitReader(f, maxKEKFile+1))
	if err != nil {
		return nil, fmt.Errorf("custody: --kek-file: %w", err)
	}
	if len(b) > maxKEKFile {
		return nil, fmt.Errorf("custody: --kek-file %s is larger than %d bytes", path, maxKEKFile)
	}
	k, err := ParseKEK(b)
	if err != nil {
		return nil, fmt.Errorf("%w (--kek-file %s)", err, path)
	}
	return k, nil
}

// Provider is "file".
func (f *File) Provider() string { return "file" }

// Protects reports whether a KEK seals the stored secrets.
func (f *File) Protects() bool { return f.kek != nil }

// Stale reports a value in clear (with a KEK) or sealed under a previous KEK.
func (f *File) Stale(stored string) bool {
	if f.kek == nil {
		return false
	}
	if IsPlain(stored) {
		return true
	}
	rest, ok := strings.CutPrefix(stored, kekPrefix)
	return ok && !strings.HasPrefix(rest, f.kid+":")
}

// Close forgets nothing; the KEK is garbage collected with f.
func (f *File) Close() error { return nil }

// NewKey creates an ECDSA P-256 key in memory.
func (f *File) NewKey() (crypto.Signer, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), f.rand)
	if err != nil {
		return nil, fmt.Errorf("custody: %w", err)
	}
	return k, nil
}

// Marshal returns c's key as PKCS#8 PEM, sealed under the KEK when there is one.
func (f *File) Marshal(c *ca.CA) (string, error) {
	if _, ok := c.Key.(memoryKey); !ok {
		return "", fmt.Errorf("custody: the file provider stores keys held in memory, not %T (a key on a token stays there)", c.Key)
	}
	p, err := c.KeyPEM()
	if err != nil {
		return "", err
	}
	return f.Seal(caKeyName(c.Cert), p)
}

// Open reads a stored CA whose key is PEM, or PEM sealed under this provider's KEK.
func (f *File) Open(certPEM, key string) (*ca.CA, error) {
	if strings.HasPrefix(key, pemPrefix) {
		return ca.Parse([]byte(certPEM), []byte(key))
	}
	cert, err := firstCert(certPEM)
	if err != nil {
		return nil, err
	}
	p, err := f.Unseal(caKeyName(cert), key)
	if err != nil {
		return nil, err
	}
	return ca.Parse([]byte(certPEM), p)
}

// Seal returns secret sealed under the KEK (name as associated data), or secret itself
// without a KEK.
func (f *File) Seal(name string, secret []byte) (string, error) {
	if f.kek == nil {
		return string(secret), nil
	}
	aead, err := chacha20poly1305.NewX(f.kek)
	if err != nil {
		return "", fmt.Errorf("custody: %w", err)
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(secret)+aead.Overhead())
	if _, err := io.ReadFull(f.rand, nonce); err != nil {
		return "", fmt.Errorf("custody: reading nonce: %w", err)
	}
	ct := aead.Seal(nonce, nonce, secret, f.ad(name))
	return kekPrefix + f.kid + ":" + base64.RawStdEncoding.EncodeToString(ct), nil
}

func (f *File) ad(name string) []byte { return []byte(kekPrefix + f.kid + ":" + name) }

// Unseal opens a value sealed under the KEK; a value in clear is returned as it is (state
// written before the KEK, sealed by the ROT on its first start with one).
func (f *File) Unseal(name, stored string) ([]byte, error) {
	rest, ok := strings.CutPrefix(stored, kekPrefix)
	if !ok {
		if IsPlain(stored) {
			return []byte(stored), nil
		}
		return nil, unknownForm(stored)
	}
	kid, b64, ok := strings.Cut(rest, ":")
	if !ok {
		return nil, fmt.Errorf("%w: %s is malformed", ErrOpen, name)
	}
	if f.kek == nil {
		return nil, ErrKEKRequired
	}
	key := f.kek
	if kid != f.kid {
		if key = f.old[kid]; key == nil {
			return nil, fmt.Errorf("%w: %s was sealed under KEK %s, --kek-file holds KEK %s", ErrKEKRequired, name, kid, f.kid)
		}
	}
	ct, err := base64.RawStdEncoding.DecodeString(b64)
	if err != nil || len(ct) < chacha20poly1305.NonceSizeX+chacha20poly1305.Overhead {
		return nil, fmt.Errorf("%w: %s is malformed", ErrOpen, name)
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("custody: %w", err)
	}
	n := aead.NonceSize()
	p, err := aead.Open(nil, ct[:n], ct[n:], []byte(kekPrefix+kid+":"+name))
	if err != nil {
		return nil, fmt.Errorf("%w: %s (tampered, or moved from another record)", ErrOpen, name)
	}
	return p, nil
}

// memoryKey is a private key whose bytes are in this process (what PKCS#8 encodes).
type memoryKey interface{ Equal(crypto.PrivateKey) bool }

// HexKEK is a KEK as a KEK file may hold it: hex on one line.
func HexKEK(kek []byte) string { return hex.EncodeToString(kek) }
