package rottest

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/seal-dev/seal/internal/attest"
	"github.com/seal-dev/seal/internal/ca"
	"github.com/seal-dev/seal/internal/custody"
	"github.com/seal-dev/seal/internal/rot"
	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/store"
)

// ROT is a running test ROT.
type ROT struct {
	// URL is the base URL, https://127.0.0.1:PORT.
	URL string
	// TrustDomain is the SPIFFE trust domain (default "test.seal.dev").
	TrustDomain string
	// StateDir is the state directory; AdminDir (StateDir/admin) holds tls.crt, tls.key, ca.crt.
	StateDir string
	AdminDir string
	// CAPEM is the ROT CA bundle (PEM): what clients trust when calling the ROT.
	CAPEM []byte
	// Admin is an admin API client (mTLS with the admin certificate).
	Admin *rotapi.Client
	// Server is the ROT itself, for tests that rotate CAs or keys directly.
	Server *rot.Server

	certTTL time.Duration
}

type options struct {
	store   store.Store
	td      string
	now     func() time.Time
	certTTL time.Duration
	logger  *slog.Logger
	limits  *rot.RedeemLimits
	keys    custody.Keys
	dir     string
	up      *ca.CA
	nonces  attest.NonceOptions
}

// Option configures Start.
type Option func(*options)

// WithTrustDomain sets the trust domain.
func WithTrustDomain(td string) Option { return func(o *options) { o.td = td } }

// WithClock sets the ROT's clock, so tests can expire Eggs and certificates instantly.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithCertTTL sets the default certTTL CreateWorkload uses when the workload has none.
func WithCertTTL(d time.Duration) Option { return func(o *options) { o.certTTL = d } }

// WithStore runs the ROT on st (fresh and empty) instead of a new file store (to run the ROT on another
// store.Store implementation); StateDir is then empty and st is closed at cleanup. The admin
// credentials still land in AdminDir.
func WithStore(st store.Store) Option { return func(o *options) { o.store = st } }

// WithRedeemLimits sets the ROT's rate limits on POST /v1/redeem (rot.DefaultRedeemLimits
// otherwise).
func WithRedeemLimits(l rot.RedeemLimits) Option { return func(o *options) { o.limits = &l } }

// WithAttestNonces bounds the ROT's attestation challenges (TTL, Max, PerEgg).
func WithAttestNonces(n attest.NonceOptions) Option { return func(o *options) { o.nonces = n } }

// WithLogger sends the ROT's logs to l (they are discarded by default).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithKeys runs the ROT with key provider k (rot.Config.Keys).
func WithKeys(k custody.Keys) Option { return func(o *options) { o.keys = k } }

// WithUpstream chains the ROT CA to an organisation's CA (rot.Config.Upstream).
func WithUpstream(up *ca.CA) Option { return func(o *options) { o.up = up } }

// WithStateDir runs the ROT on the file store in dir (to restart a ROT on its state).
func WithStateDir(dir string) Option { return func(o *options) { o.dir = dir } }

// Start runs a ROT for the test and stops it at t.Cleanup.
func Start(t testing.TB, opts ...Option) *ROT {
	t.Helper()
	o := options{td: "test.seal.dev", logger: slog.New(slog.DiscardHandler)}
	for _, f := range opts {
		f(&o)
	}
	dir := o.dir
	if dir == "" {
		dir = t.TempDir()
	}
	adminDir := filepath.Join(dir, "admin")
	st := o.store
	if st == nil {
		fs, err := store.OpenFile(dir)
		if err != nil {
			t.Fatalf("rottest: %v", err)
		}
		st = fs
	} else {
		dir = ""
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		st.Close()
		t.Fatalf("rottest: %v", err)
	}
	url := "https://" + ln.Addr().String()
	srv, err := rot.New(context.Background(), rot.Config{
		Store:        st,
		TrustDomain:  o.td,
		ExternalURL:  url,
		AdminOut:     rot.WriteAdminDir(adminDir),
		Now:          o.now,
		Logger:       o.logger,
		RedeemLimits: o.limits,
		Keys:         o.keys,
		Upstream:     o.up,
		AttestNonces: o.nonces,
	})
	if err != nil {
		ln.Close()
		st.Close()
		t.Fatalf("rottest: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	r := &ROT{URL: url, TrustDomain: o.td, StateDir: dir, AdminDir: adminDir, CAPEM: srv.CAPEM(), Server: srv}
	r.certTTL = o.certTTL
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("rottest: serve: %v", err)
		}
		if r.Admin != nil {
			r.Admin.HTTP.CloseIdleConnections()
		}
		st.Close()
	})
	cert, err := tls.LoadX509KeyPair(filepath.Join(adminDir, rot.AdminCertFile), filepath.Join(adminDir, rot.AdminKeyFile))
	if err != nil {
		t.Fatalf("rottest: admin credentials: %v", err)
	}
	if r.Admin, err = rotapi.NewClient(url, r.CAPEM, &cert); err != nil {
		t.Fatalf("rottest: %v", err)
	}
	return r
}

// Client returns a client that trusts the ROT CA and presents cert (nil: no client cert).
// Its idle connections are closed when the test ends.
func (r *ROT) Client(t testing.TB, cert *tls.Certificate) *rotapi.Client {
	t.Helper()
	c, err := rotapi.NewClient(r.URL, r.CAPEM, cert)
	if err != nil {
		t.Fatalf("rottest: %v", err)
	}
	t.Cleanup(c.HTTP.CloseIdleConnections)
	return c
}

func (r *ROT) ctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// CreateWorkload creates a workload through the admin API and returns it as the ROT shows it.
func (r *ROT) CreateWorkload(t testing.TB, w rotapi.Workload) rotapi.Workload {
	t.Helper()
	if w.CertTTL == "" && r.certTTL > 0 {
		w.CertTTL = r.certTTL.String()
	}
	var out rotapi.Workload
	if err := r.Admin.Do(r.ctx(t), http.MethodPost, rotapi.PathWorkloads, w, &out); err != nil {
		t.Fatalf("rottest: creating workload %q: %v", w.Name, err)
	}
	return out
}

// MintEgg mints an Egg for workload through the admin API and returns its text.
func (r *ROT) MintEgg(t testing.TB, workload string, m rotapi.MintRequest) string {
	t.Helper()
	return r.MintEggInfo(t, workload, m).Egg
}

// RevokeEgg revokes an Egg by id through the admin API.
func (r *ROT) RevokeEgg(t testing.TB, id string) {
	t.Helper()
	if err := r.Admin.Do(r.ctx(t), http.MethodDelete, rotapi.Path(rotapi.PathEgg, id), nil, nil); err != nil {
		t.Fatalf("rottest: revoking egg %q: %v", id, err)
	}
}

// MintEggInfo mints an Egg and returns the whole answer (the Egg text and its id).
func (r *ROT) MintEggInfo(t testing.TB, workload string, m rotapi.MintRequest) rotapi.MintResponse {
	t.Helper()
	var out rotapi.MintResponse
	if err := r.Admin.Do(r.ctx(t), http.MethodPost, rotapi.Path(rotapi.PathEggs, workload), m, &out); err != nil {
		t.Fatalf("rottest: minting egg for %q: %v", workload, err)
	}
	return out
}
