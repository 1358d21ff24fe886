package rot

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/seal-dev/seal/internal/ca"
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

// IssueAdminCredentials issues fresh admin client credentials from the ROT CA held in st
// (seal-rot admin-cert: when the admin certificate expired or a second admin needs one). It
// changes no state.
func IssueAdminCredentials(ctx context.Context, st store.Store, now func() time.Time) (*AdminCredentials, error) {
	if now == nil {
		now = time.Now
	}
	state, err := st.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("rot: loading state: %w", err)
	}
	if state.Authority == nil {
		return nil, errors.New("rot: no ROT CA in this state yet: start seal-rot serve first")
	}
	v, err := buildView(state, now())
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: Config{Now: now}, opts: ca.Options{Now: now}, adminID: "spiffe://" + v.td.Name() + "/seal/admin", metrics: newMetrics()}
	creds, err := s.adminCredentials(v.root)
	if err != nil {
		return nil, err
	}
	creds.CA = []byte(v.rootPEM)
	return creds, nil
}
