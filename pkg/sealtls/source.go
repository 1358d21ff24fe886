package sealtls

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// Names of the files in a Seal directory.
const (
	CertFile   = "tls.crt"
	KeyFile    = "tls.key"
	CAFile     = "ca.crt"
	BundlesDir = "bundles"
	// DefaultDir is where an injected pod finds its files when $SEAL_DIR is unset.
	DefaultDir = "/var/run/seal"
	// DefaultReloadInterval is how often, at most, a Source looks at its files for changes.
	DefaultReloadInterval = 5 * time.Second
)

// A Source holds this program's certificate and the trust bundles from a Seal directory, and
// reloads them when the files change. It is safe for concurrent use. At most once per reload
// interval a handshake stats the files (a few stat calls, no reads) and, if they changed,
// reads them again; a set that fails to load is logged and the last good one kept.
type Source struct {
	dir      string
	interval time.Duration
	now      func() time.Time

	mu        sync.Mutex
	cur       *snapshot
	lastCheck time.Time
	badStamp  string // stamp of a file set that failed to load, not retried until it changes
	badErr    error  // why it failed
}

// snapshot is one consistent set of files.
type snapshot struct {
	stamp string
	cert  *tls.Certificate
	id    spiffeid.ID
	pools map[spiffeid.TrustDomain]*x509.CertPool
	// chain is tls.crt parsed (leaf first); authorities are the certificates behind each pool,
	// for the go-spiffe interfaces (see spiffe.go).
	chain       []*x509.Certificate
	authorities map[spiffeid.TrustDomain][]*x509.Certificate
}

// A LoadOption tunes [Load].
type LoadOption func(*Source)

// WithReloadInterval sets how often, at most, the files are checked for changes (default
// [DefaultReloadInterval]); 0 checks on every handshake.
func WithReloadInterval(d time.Duration) LoadOption {
	return func(s *Source) { s.interval = d }
}

// Load reads the Seal directory dir ("" means $SEAL_DIR, else [DefaultDir]). It fails when
// tls.crt and tls.key do not form a key pair, when the leaf has no SPIFFE ID, when ca.crt holds
// no certificate, or when a bundles/<trust-domain>.pem file is not a valid bundle.
func Load(dir string, opts ...LoadOption) (*Source, error) {
	if dir == "" {
		dir = os.Getenv("SEAL_DIR")
	}
	if dir == "" {
		dir = DefaultDir
	}
	s := &Source{dir: dir, interval: DefaultReloadInterval, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	snap, err := readDir(dir)
	if err != nil {
		return nil, err
	}
	s.cur, s.lastCheck = snap, s.now()
	return s, nil
}

// ID is this program's SPIFFE ID, from the current tls.crt.
func (s *Source) ID() spiffeid.ID { return s.snapshot().id }

// Certificate is the current certificate and key (tls.crt, tls.key); Leaf is set.
func (s *Source) Certificate() *tls.Certificate { return s.snapshot().cert }

// Reload checks the files now and loads them if they changed. On error the previous set stays
// in use and the error says why the new one was refused.
func (s *Source) Reload() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.reloadLocked()
	return err
}

// snapshot returns the current set, reloading first when the interval has passed.
func (s *Source) snapshot() *snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now := s.now(); now.Sub(s.lastCheck) >= s.interval {
		s.lastCheck = now
		if fresh, err := s.reloadLocked(); err != nil && fresh {
			slog.Warn("sealtls: reload failed, keeping the previous certificates", "dir", s.dir, "err", err)
		}
	}
	return s.cur
}

// reloadLocked loads the files if their stamp changed. fresh is false when err repeats the
// failure of a file set already tried (so it is logged once).
func (s *Source) reloadLocked() (fresh bool, err error) {
	st, err := stamp(s.dir)
	if err == nil {
		switch st {
		case s.cur.stamp:
			s.badStamp, s.badErr = "", nil
			return false, nil
		case s.badStamp:
			return false, s.badErr
		}
		var snap *snapshot
		if snap, err = readDir(s.dir); err == nil {
			s.cur, s.badStamp, s.badErr = snap, "", nil
			return true, nil
		}
	}
	fresh = s.badErr == nil || s.badErr.Error() != err.Error()
	s.badStamp, s.badErr = st, err
	return fresh, err
}

// readDir reads a consistent set: the file stamps must be the same before and after reading,
// so a set being swapped while read is read again.
func readDir(dir string) (*snapshot, error) {
	var lastErr error
	for range 3 {
		before, err := stamp(dir)
		if err != nil {
			return nil, err
		}
		snap, readErr := readFiles(generationDir(dir))
		after, err := stamp(dir)
		if err != nil {
			return nil, err
		}
		lastErr = readErr
		if before != after {
			continue // swapped while being read: read again
		}
		if readErr != nil {
			return nil, readErr
		}
		snap.stamp = before
		return snap, nil
	}
	if lastErr != nil {
		return nil, lastErr
	}
	return nil, fmt.Errorf("sealtls: %s keeps changing while being read", dir)
}

// generationDir is the directory ..data points to, when it is a symlink (the layout seal-init
// and the kubelet write), so that every file of one set is read from one generation; else dir.
func generationDir(dir string) string {
	t, err := os.Readlink(filepath.Join(dir, "..data"))
	if err != nil {
		return dir
	}
	if !filepath.IsAbs(t) {
		t = filepath.Join(dir, t)
	}
	return t
}

func readFiles(dir string) (*snapshot, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, CertFile))
	if err != nil {
		return nil, fmt.Errorf("sealtls: %w", err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, KeyFile))
	if err != nil {
		return nil, fmt.Errorf("sealtls: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("sealtls: %s and %s: %w", CertFile, KeyFile, err)
	}
	id, err := certID(cert.Leaf)
	if err != nil {
		return nil, fmt.Errorf("sealtls: %s: %w", CertFile, err)
	}
	snap := &snapshot{cert: &cert, id: id, pools: map[spiffeid.TrustDomain]*x509.CertPool{},
		authorities: map[spiffeid.TrustDomain][]*x509.Certificate{}}
	snap.chain = make([]*x509.Certificate, 0, len(cert.Certificate))
	for i, der := range cert.Certificate {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("sealtls: %s: certificate %d: %w", CertFile, i+1, err)
		}
		snap.chain = append(snap.chain, c)
	}

	ca, cas, err := readPool(filepath.Join(dir, CAFile))
	if err != nil {
		return nil, err
	}
	snap.pools[id.TrustDomain()], snap.authorities[id.TrustDomain()] = ca, cas

	entries, err := os.ReadDir(filepath.Join(dir, BundlesDir))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("sealtls: %w", err)
	}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".pem")
		if !ok || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		td, err := spiffeid.TrustDomainFromString(name)
		if err != nil || td.Name() != name {
			return nil, fmt.Errorf("sealtls: %s/%s: file name is not <trust-domain>.pem", BundlesDir, e.Name())
		}
		if td == id.TrustDomain() {
			continue // the own trust domain is verified against ca.crt only
		}
		pool, certs, err := readPool(filepath.Join(dir, BundlesDir, e.Name()))
		if err != nil {
			return nil, err
		}
		snap.pools[td], snap.authorities[td] = pool, certs
	}
	return snap, nil
}

// readPool reads a PEM file of one or more CERTIFICATE blocks, as a pool and as a list.
func readPool(path string) (*x509.CertPool, []*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("sealtls: %w", err)
	}
	pool := x509.NewCertPool()
	var certs []*x509.Certificate
	n := 0
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("sealtls: %s: certificate %d: %w", path, n+1, err)
		}
		pool.AddCert(c)
		certs = append(certs, c)
		n++
	}
	if n == 0 {
		return nil, nil, fmt.Errorf("sealtls: %s: no PEM certificate", path)
	}
	return pool, certs, nil
}

// stamp describes the state of the files cheaply (stat and readlink, no reads), so that any
// renewal, in place or by swapping a ..data symlink, changes it.
func stamp(dir string) (string, error) {
	var b strings.Builder
	if t, err := os.Readlink(filepath.Join(dir, "..data")); err == nil {
		fmt.Fprintf(&b, "..data->%s;", t)
	}
	for _, name := range []string{CertFile, KeyFile, CAFile} {
		if err := statInto(&b, filepath.Join(dir, name)); err != nil {
			return "", err
		}
	}
	entries, err := os.ReadDir(filepath.Join(dir, BundlesDir))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("sealtls: %w", err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	for _, n := range names {
		if err := statInto(&b, filepath.Join(dir, BundlesDir, n)); err != nil {
			return "", err
		}
	}
	return b.String(), nil
}

func statInto(b *strings.Builder, path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("sealtls: %w", err)
	}
	link, _ := os.Readlink(path)
	fmt.Fprintf(b, "%s->%s:%d:%d;", path, link, fi.Size(), fi.ModTime().UnixNano())
	return nil
}
