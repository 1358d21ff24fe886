package custody

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// maxPINFile bounds what ReadPINFile reads.
const maxPINFile = 1024

// ReadPINFile reads a PKCS#11 user PIN from a file (one line; surrounding white space is
// dropped). It refuses a file others may read, and an empty PIN.
func ReadPINFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("custody: --pkcs11-pin-file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("custody: --pkcs11-pin-file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("custody: --pkcs11-pin-file %s is mode %#o: make it readable by its owner only (chmod 600)", path, fi.Mode().Perm())
	}
	b, err := io.ReadAll(io.LimitReader(f, maxPINFile+1))
	if err != nil {
		return "", fmt.Errorf("custody: --pkcs11-pin-file: %w", err)
	}
	if len(b) > maxPINFile {
		return "", fmt.Errorf("custody: --pkcs11-pin-file %s is larger than %d bytes", path, maxPINFile)
	}
	pin := strings.TrimSpace(string(b))
	if pin == "" || strings.ContainsAny(pin, "\r\n") {
		return "", fmt.Errorf("custody: --pkcs11-pin-file %s: want the PIN on one line", path)
	}
	return pin, nil
}

// PKCS11Config names a PKCS#11 token and how to log in to it.
type PKCS11Config struct {
	// Module is the path of the token's PKCS#11 library.
	Module string
	// Token is the token's label.
	Token string
	// PIN is the user PIN.
	PIN string
}
