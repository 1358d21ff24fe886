package rot

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/seal-dev/seal/internal/attest"
	"github.com/seal-dev/seal/internal/ca"
	"github.com/seal-dev/seal/internal/custody"
	"github.com/seal-dev/seal/internal/egg"
	"github.com/seal-dev/seal/internal/store"
)

// ErrTrustDomainMismatch: the state belongs to another trust domain than the one configured.
var ErrTrustDomainMismatch = errors.New("rot: state belongs to another trust domain")

const (
	defaultPeer   = "any"
	defaultEggTTL = 720 * time.Hour
	servingTTL    = 7 * 24 * time.Hour
	adminTTL      = 365 * 24 * time.Hour
	// rotateEvery is how often the ROT checks whether a CA needs a successor.
	rotateEvery = time.Hour
)

// Config configures a Server.
type Config struct {
	// Store holds the state. Required.
	Store store.Store
	// TrustDomain is the SPIFFE trust domain, e.g. prod.example.org. Required.
	TrustDomain string
	// ExternalURL is the ROT URL written into Eggs (https://HOST:PORT). Required.
	ExternalURL string
	// Hosts are extra names and IPs for the serving certificate (the listen host); localhost,
	// 127.0.0.1, ::1 and the ExternalURL host are always in it.
	Hosts []string
	// AdminOut receives the admin client credentials on the first start (when the ROT CA is
	// created). WriteAdminDir writes them to a directory. Nil discards them.
	AdminOut func(ctx context.Context, c AdminCredentials) error
	// RootTTL and WorkloadCATTL are the CA lifetimes (ca.DefaultRootTTL, ca.DefaultWorkloadTTL).
	RootTTL, WorkloadCATTL time.Duration
	// Now and Rand are the clock and randomness (time.Now, crypto/rand when nil).
	Now  func() time.Time
	Rand io.Reader
	// Logger receives structured logs and the audit trail (slog.Default when nil).
	Logger *slog.Logger
	// FederationRoots verify https_web bundle endpoints (the system roots when nil).
	FederationRoots *x509.CertPool
	// RedeemLimits rate-limit POST /v1/redeem (DefaultRedeemLimits when nil; see ratelimit.go).
	RedeemLimits *RedeemLimits
	// Keys keeps the CA keys and seals the stored secrets (custody.File without a KEK when
	// nil: keys in clear PEM, as before). See custody.go.
	Keys custody.Keys
	// Upstream, when set, is the organisation's CA new ROT CAs are signed by (upstream.go).
	Upstream *ca.CA
	// AttestNonces bounds the attestation challenges (TTL, Max, PerEgg); zero: the defaults.
	AttestNonces attest.NonceOptions
	// CAActivationDelay is how long a rotated Workload CA is only published in trust bundles
	// before it starts signing (activation.go); zero: the workload's certificate TTL.
	CAActivationDelay time.Duration
}

// AdminCredentials are the admin client certificate, its key and the ROT CA bundle (PEM).
type AdminCredentials struct {
	Cert, Key, CA []byte
}

// Server is a running ROT's state and handlers.
type Server struct {
	cfg     Config
	opts    ca.Options
	log     *slog.Logger
	td      spiffeid.TrustDomain
	adminID string
	rotID   *url.URL

	mu sync.Mutex // serializes writers; guards st
	st *store.State
	v  atomic.Pointer[view]

	// Federated bundle refresh schedule, guarded by mu.
	nextFetch     map[string]time.Time
	fetchFailures map[string]int

	admins    atomic.Pointer[adminSet]
	draining  atomic.Pointer[store.Drain] // non-nil while drained (drain.go)
	drainGate sync.RWMutex                // admin changes in flight hold it shared; a drain takes it (drain.go)
	serving   atomic.Pointer[tls.Certificate]
	servingMu sync.Mutex

	metrics  *metrics
	handler  http.Handler
	redeemSt *redeemState // rate limits and reloads of POST /v1/redeem (redeem.go)
	jwks     jwksSchedule // JWKS URL refreshes, guarded by mu (clusters.go)
	sec      secretsState // workload secrets served by GET /v1/secrets (secretsdoc.go)

	attestCheck *attest.Checker // nonces and evidence verifiers (attest.go)
}

// New loads the state from cfg.Store, creating the ROT CA, the egg-sealing key and the admin
// credentials on the first start. State that exists but cannot be read is an error, and
// nothing is written then.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("rot: no store")
	}
	td, err := spiffeid.TrustDomainFromString(cfg.TrustDomain)
	if err != nil {
		return nil, fmt.Errorf("rot: trust domain %q: %w", cfg.TrustDomain, err)
	}
	u, err := url.Parse(cfg.ExternalURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("rot: external URL %q must be https://HOST[:PORT]", cfg.ExternalURL)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Keys == nil {
		if cfg.Keys, err = custody.NewFile(nil, cfg.Rand); err != nil {
			return nil, err
		}
	}
	s := &Server{
		cfg:     cfg,
		opts:    ca.Options{Now: cfg.Now, Rand: cfg.Rand, Custody: cfg.Keys},
		log:     cfg.Logger,
		td:      td,
		adminID: "spiffe://" + td.Name() + "/seal/admin",
		rotID:   &url.URL{Scheme: "spiffe", Host: td.Name(), Path: "/seal/rot"},
		metrics: newMetrics(),

		nextFetch:     map[string]time.Time{},
		fetchFailures: map[string]int{},
	}
	s.attestCheck = attest.NewChecker(attest.NewNonces(attest.NonceOptions{TTL: cfg.AttestNonces.TTL, Max: cfg.AttestNonces.Max, PerEgg: cfg.AttestNonces.PerEgg, Now: cfg.Now, Rand: cfg.Rand}))
	if s.redeemSt, err = newRedeemState(cfg.RedeemLimits); err != nil {
		return nil, err
	}
	st, err := cfg.Store.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("rot: loading state (nothing was changed): %w", err)
	}
	if st.Authority == nil {
		if err := s.initAuthority(ctx, st); err != nil {
			return nil, err
		}
	} else if st.Authority.TrustDomain != td.Name() {
		return nil, fmt.Errorf("%w: the state is for %q, --trust-domain is %q", ErrTrustDomainMismatch, st.Authority.TrustDomain, td.Name())
	} else if err := s.sealClear(ctx, st); err != nil {
		return nil, err
	}
	v, err := buildView(st, cfg.Now(), s.opts)
	if err != nil {
		return nil, err
	}
	s.st = st
	s.v.Store(v)
	s.publishSecretsLocked()
	s.setAdmins(st.Authority)
	if st.Authority.Admins == nil {
		s.log.Warn("the state has no admin allow-list: every unexpired admin certificate of the ROT CA is accepted; fix: seal-rot admin-cert --revoke-all-but-new (see docs/rot.md)")
	}
	s.metrics.workloads.Set(float64(len(st.Workloads)))
	s.metrics.reg.MustRegister(stateMetrics{s})
	if err := s.Rotate(ctx); err != nil {
		return nil, err
	}
	if _, err := s.renewServing(); err != nil {
		return nil, err
	}
	s.handler = s.routes()
	return s, nil
}

// initAuthority creates the ROT CA, egg-sealing key and admin credentials (first start).
func (s *Server) initAuthority(ctx context.Context, st *store.State) error {
	root, err := s.newROTCA()
	if err != nil {
		return err
	}
	kp, err := keyPair(root, s.opts)
	if err != nil {
		return err
	}
	key, err := egg.NewKey(s.cfg.Rand)
	if err != nil {
		return err
	}
	kid, err := s.newID("k")
	if err != nil {
		return err
	}
	jk, err := s.newJWTKey()
	if err != nil {
		return err
	}
	if key, err = sealEggKey(kid, key, s.opts); err != nil {
		return err
	}
	a := &store.Authority{
		JWTKeys:        []store.JWTKey{jk},
		TrustDomain:    s.td.Name(),
		Created:        s.cfg.Now().UTC(),
		CAs:            []store.KeyPair{kp},
		EggKeys:        egg.Keyring{Current: kid, Keys: map[string][]byte{kid: key}},
		BundleSequence: 1,
	}
	// Admin credentials first: if saving the authority then fails, the next start creates a
	// new CA and new credentials; the other order could lock the admin out. The new state's
	// allow-list holds exactly this certificate. (Without AdminOut no credentials leave the
	// process and the list stays unset, as on state from before the list existed, until
	// seal-rot admin-cert starts one.)
	if s.cfg.AdminOut != nil {
		creds, e, err := s.adminCredentials(root)
		if err != nil {
			return err
		}
		a.Admins = []store.AdminCert{e}
		if err := s.cfg.AdminOut(ctx, *creds); err != nil {
			return fmt.Errorf("rot: writing admin credentials: %w", err)
		}
	}
	if err := s.cfg.Store.PutAuthority(ctx, a); err != nil {
		return fmt.Errorf("rot: saving the new ROT CA: %w", err)
	}
	st.Authority = a
	s.log.Info("created ROT CA", "audit", true, "trustDomain", s.td.Name(), "fingerprint", root.Fingerprint(), "notAfter", root.Cert.NotAfter)
	return nil
}

// adminCredentials issues an admin client certificate from root and returns it with its
// allow-list entry.
func (s *Server) adminCredentials(root *ca.CA) (*AdminCredentials, store.AdminCert, error) {
	iss, key, err := root.IssueWithKey(ca.Leaf{
		SPIFFEID:   mustURL(s.adminID),
		CommonName: "seal-admin",
		TTL:        adminTTL,
		Client:     true,
	}, s.opts)
	if err != nil {
		return nil, store.AdminCert{}, err
	}
	keyPEM, err := ca.KeyPEM(key)
	if err != nil {
		return nil, store.AdminCert{}, err
	}
	leaf, err := parseLeaf(iss.DER)
	if err != nil {
		return nil, store.AdminCert{}, err
	}
	s.metrics.issuances.WithLabelValues("admin").Inc()
	e := store.AdminCert{Serial: SerialHex(leaf), NotAfter: leaf.NotAfter.UTC(), Issued: s.cfg.Now().UTC()}
	return &AdminCredentials{Cert: iss.PEM(nil), Key: keyPEM, CA: root.CertPEM()}, e, nil
}

func keyPair(c *ca.CA, o ca.Options) (store.KeyPair, error) {
	k, err := o.StoredKey(c)
	if err != nil {
		return store.KeyPair{}, err
	}
	return store.KeyPair{Cert: string(c.ChainPEM()), Key: k}, nil
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// newID returns prefix-<20 hex digits> from the injected randomness.
func (s *Server) newID(prefix string) (string, error) {
	b := make([]byte, 10)
	if _, err := io.ReadFull(s.cfg.Rand, b); err != nil {
		return "", fmt.Errorf("rot: reading random id: %w", err)
	}
	return prefix + "-" + hex.EncodeToString(b), nil
}

// Handler is the ROT's HTTP handler (serve it over TLSConfig).
func (s *Server) Handler() http.Handler { return s.handler }

// CAPEM is the PEM of the valid ROT CA(s): what pods and admins trust when calling the ROT.
func (s *Server) CAPEM() []byte { return []byte(s.v.Load().rootPEM) }
