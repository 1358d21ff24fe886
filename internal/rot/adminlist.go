package rot

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/seal-dev/seal/internal/ca"
	"github.com/seal-dev/seal/internal/custody"
	"github.com/seal-dev/seal/internal/store"
)

// Sentinel errors of the admin allow-list; seal-rot admin-cert branches on them.
var (
	// ErrAdminNotListed: the admin certificate's serial is not on the allow-list (revoked).
	ErrAdminNotListed = errors.New("rot: admin certificate is not on this ROT's admin allow-list")
	// ErrLastAdmin: the change would leave no admin certificate allowed.
	ErrLastAdmin = errors.New("rot: refusing to revoke the last allowed admin certificate")
)

// adminSet is the parsed allow-list the admin API checks. legacy: the state has no list, so
// every admin certificate that verifies is accepted (state written before the list existed).
type adminSet struct {
	legacy  bool
	serials map[string]bool
}

// SerialHex is how Seal writes a certificate serial: lower-case hex without leading zeros,
// the form of the audit lines and of the allow-list.
func SerialHex(c *x509.Certificate) string { return fmt.Sprintf("%x", c.SerialNumber) }

// ParseSerial reads a serial as an operator may paste it: hex, optionally with a 0x prefix or
// colons (openssl's form), any case.
func ParseSerial(s string) (string, error) {
	h := strings.ToLower(strings.TrimSpace(s))
	h = strings.ReplaceAll(strings.TrimPrefix(h, "0x"), ":", "")
	var n *big.Int
	ok := h != "" && len(h) <= 64
	if ok {
		n, ok = new(big.Int).SetString(h, 16)
	}
	if !ok || n.Sign() <= 0 {
		return "", fmt.Errorf("rot: serial %q is not a positive hexadecimal number (as seal-rot admin-cert --list prints it)", s)
	}
	return n.Text(16), nil
}

// setAdmins publishes the allow-list of a, and its drain.
func (s *Server) setAdmins(a *store.Authority) {
	set := &adminSet{legacy: a.Admins == nil, serials: map[string]bool{}}
	for _, e := range a.Admins {
		set.serials[e.Serial] = true
	}
	s.admins.Store(set)
	s.draining.Store(a.Drained)
}

// checkAdminSerial refuses an admin certificate whose serial is not on the allow-list.
func (s *Server) checkAdminSerial(leaf *x509.Certificate) error {
	set := s.admins.Load()
	if set == nil || set.legacy || set.serials[SerialHex(leaf)] {
		return nil
	}
	return fmt.Errorf("%w: serial %s was revoked or never listed; fix: get current credentials with seal-rot admin-cert", ErrAdminNotListed, SerialHex(leaf))
}

// AdminChange is what seal-rot admin-cert does to the admin allow-list.
type AdminChange struct {
	// Revoke removes this serial from the list and issues nothing.
	Revoke string
	// RevokeAllButNew issues new credentials and makes them the only ones allowed.
	RevokeAllButNew bool
	// Legacy is the PEM of the admin certificate handed out before the allow-list existed
	// (STATE_DIR/admin/tls.crt or Secret seal-rot-admin). On state without a list it is
	// listed first, so the first-start credentials keep working through the upgrade.
	Legacy []byte
	// Keys opens the ROT CA's key (custody.File without a KEK when nil).
	Keys custody.Keys
}

// AdminResult is the outcome of ChangeAdmins.
type AdminResult struct {
	// Creds are the new credentials (nil for a revocation).
	Creds *AdminCredentials
	// Serial is the new certificate's serial, or the revoked one.
	Serial string
	// Seeded is the serial of the legacy certificate listed by this change, if any.
	Seeded string
	// Admins is the allow-list after the change.
	Admins []store.AdminCert
}

// ChangeAdmins changes the admin allow-list held in st (seal-rot admin-cert). Unless it
// revokes, it issues admin credentials from the current ROT CA and hands them to write before
// it saves the list, so a failed write changes nothing. Expired entries are dropped.
func ChangeAdmins(ctx context.Context, st store.Store, now func() time.Time, ch AdminChange, write func(context.Context, AdminCredentials) error) (*AdminResult, error) {
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
	t := now()
	if ch.Keys == nil {
		if ch.Keys, err = custody.NewFile(nil, nil); err != nil {
			return nil, err
		}
	}
	opts := ca.Options{Now: now, Custody: ch.Keys}
	v, err := buildView(state, t, opts)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: Config{Now: now}, opts: opts, adminID: "spiffe://" + v.td.Name() + "/seal/admin", metrics: newMetrics()}
	res := &AdminResult{}
	a := *state.Authority
	list := slices.Clone(a.Admins)
	if a.Admins == nil && len(ch.Legacy) > 0 {
		if e, ok := s.legacyEntry(v, ch.Legacy, t); ok {
			list, res.Seeded = []store.AdminCert{e}, e.Serial
		}
	}
	list = slices.DeleteFunc(list, func(e store.AdminCert) bool { return !t.Before(e.NotAfter) })
	if ch.Revoke != "" {
		serial, err := ParseSerial(ch.Revoke)
		if err != nil {
			return nil, err
		}
		i := slices.IndexFunc(list, func(e store.AdminCert) bool { return e.Serial == serial })
		if i < 0 {
			return nil, fmt.Errorf("%w: serial %s (listed: %s)", ErrAdminNotListed, serial, serials(list))
		}
		if len(list) == 1 {
			return nil, fmt.Errorf("%w %s: the admin API would accept no one; fix: issue new credentials first (seal-rot admin-cert), or use --revoke-all-but-new", ErrLastAdmin, serial)
		}
		a.Admins, res.Serial = slices.Delete(list, i, i+1), serial
	} else {
		creds, e, err := s.adminCredentials(v.root)
		if err != nil {
			return nil, err
		}
		creds.CA = []byte(v.rootPEM)
		if ch.RevokeAllButNew {
			list = nil
		}
		a.Admins, res.Creds, res.Serial = append(list, e), creds, e.Serial
		if write != nil {
			if err := write(ctx, *creds); err != nil {
				return nil, fmt.Errorf("rot: writing admin credentials (the allow-list is unchanged): %w", err)
			}
		}
	}
	if err := st.PutAuthority(ctx, &a); err != nil {
		return nil, fmt.Errorf("rot: saving the admin allow-list: %w", err)
	}
	res.Admins = a.Admins
	return res, nil
}

// ListAdmins returns the admin allow-list of st; legacy is true when the state has none yet
// (every admin certificate of a ROT CA is then accepted).
func ListAdmins(ctx context.Context, st store.Store) (list []store.AdminCert, legacy bool, err error) {
	state, err := st.Load(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("rot: loading state: %w", err)
	}
	if state.Authority == nil {
		return nil, false, errors.New("rot: no ROT CA in this state yet: start seal-rot serve first")
	}
	return state.Authority.Admins, state.Authority.Admins == nil, nil
}

// legacyEntry lists the pre-upgrade admin certificate when it is one of this ROT's.
func (s *Server) legacyEntry(v *view, certPEM []byte, now time.Time) (store.AdminCert, bool) {
	certs, err := ca.ParseCerts(certPEM)
	if err != nil {
		return store.AdminCert{}, false
	}
	leaf := certs[0]
	roots := x509.NewCertPool()
	for _, c := range v.roots {
		roots.AddCert(c.Cert)
	}
	_, err = leaf.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err != nil || len(leaf.URIs) != 1 || leaf.URIs[0].String() != s.adminID {
		return store.AdminCert{}, false
	}
	return store.AdminCert{Serial: SerialHex(leaf), NotAfter: leaf.NotAfter.UTC(), Issued: leaf.NotBefore.UTC()}, true
}

func serials(list []store.AdminCert) string {
	out := make([]string, len(list))
	for i, e := range list {
		out[i] = e.Serial
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}
