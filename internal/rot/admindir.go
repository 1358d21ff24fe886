package rot

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/seal-dev/seal/internal/store"
)

// Files of an admin credentials directory (what sealctl --admin DIR reads).
const (
	AdminCertFile = "tls.crt"
	AdminKeyFile  = "tls.key"
	AdminCAFile   = "ca.crt"
)

// WriteAdminDir returns a Config.AdminOut that writes the admin credentials to dir (created
// 0700): tls.crt, tls.key and ca.crt, each 0600 and written atomically.
func WriteAdminDir(dir string) func(context.Context, AdminCredentials) error {
	return func(_ context.Context, c AdminCredentials) error {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("rot: %w", err)
		}
		for name, b := range map[string][]byte{AdminCertFile: c.Cert, AdminKeyFile: c.Key, AdminCAFile: c.CA} {
			if err := store.WriteFileAtomic(filepath.Join(dir, name), b, 0o600); err != nil {
				return err
			}
		}
		return nil
	}
}
