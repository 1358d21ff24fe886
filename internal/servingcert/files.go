package servingcert

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/seal-dev/seal/internal/atomicfile"
)

// WriteFiles makes a new CA and a serving certificate for dnsNames and ips, both valid for
// validity, and writes ca.crt, tls.crt and tls.key into dir (created 0700; the key 0600) for
// seal-webhook --cert-dir. It returns the CA's PEM: the caBundle of the webhook configurations.
// It refuses to overwrite an existing tls.key, so a working certificate is never lost by mistake.
func WriteFiles(dir string, dnsNames []string, ips []net.IP, now time.Time, validity time.Duration) (caPEM []byte, err error) {
	if len(dnsNames) == 0 && len(ips) == 0 {
		return nil, fmt.Errorf("servingcert: a serving certificate needs at least one DNS name or IP address")
	}
	if _, err := os.Stat(filepath.Join(dir, "tls.key")); err == nil {
		return nil, fmt.Errorf("servingcert: %s already exists: remove it first to make new certificates", filepath.Join(dir, "tls.key"))
	}
	ca, err := NewCA("seal-webhook dev CA", now, validity, nil)
	if err != nil {
		return nil, err
	}
	leaf, err := ca.Issue(dnsNames, ips, now, validity, nil)
	if err != nil {
		return nil, err
	}
	certPEM, keyPEM, err := PEM(leaf)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("servingcert: %w", err)
	}
	for _, f := range []struct {
		name string
		data []byte
		mode os.FileMode
	}{{"ca.crt", ca.CertPEM, 0o644}, {"tls.crt", certPEM, 0o644}, {"tls.key", keyPEM, 0o600}} {
		if err := writeAtomic(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return nil, err
		}
	}
	return ca.CertPEM, nil
}

func writeAtomic(path string, data []byte, mode os.FileMode) error {
	if err := atomicfile.WriteFile(path, data, mode); err != nil {
		return fmt.Errorf("servingcert: %w", err)
	}
	return nil
}
