package enroll

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/seal-dev/seal/internal/egg"
	"github.com/seal-dev/seal/internal/podfiles"
	"github.com/seal-dev/seal/internal/rotapi"
)

// DefaultTimeout bounds the first redemption's retries.
const DefaultTimeout = 2 * time.Minute

// maxAttemptTimeout bounds one call to the ROT.
const maxAttemptTimeout = 15 * time.Second

// Enroller redeems one Egg, again and again in watch mode.
type Enroller struct {
	// Hostnames are extra DNS SANs to ask for (route hosts).
	Hostnames []string
	// FederatesWith narrows the federated bundles to these trust domains.
	FederatesWith []string
	// Writer writes the file set; nil means redeem without writing.
	Writer *podfiles.Writer
	// Timeout bounds the retries of Enroll (DefaultTimeout when zero).
	Timeout time.Duration
	// Backoff paces retries.
	Backoff Backoff
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Sleep waits between attempts and until renewal (a context-aware timer when nil).
	Sleep func(ctx context.Context, d time.Duration) error
	// Log receives progress (slog.Default when nil); never key material.
	Log *slog.Logger
	// TokenFile is the pod's projected ServiceAccount token, read at every redemption and
	// sent with the Egg (empty: none).
	TokenFile string
	// Secrets, when true, also delivers the workload's secrets (GET /v1/secrets) into
	// secrets/<name> of the file set; SecretsInterval paces WatchSecrets.
	Secrets         bool
	SecretsInterval time.Duration
	// Attest, when set, answers the ROT's attestation challenge with evidence before each
	// redemption (seal-init --attest tpm2; attest.go).
	Attest func(ctx context.Context, ch *rotapi.ChallengeResponse) (*rotapi.Evidence, error)

	eggText string
	outer   *egg.Outer
	client  *rotapi.Client
	sec     secretsState
}

// New prepares an Enroller for the Egg text; source says where the Egg came from ("file
// /etc/seal/egg") for the message of a *Failure when the Egg is unusable.
func New(eggText, source string) (*Enroller, error) {
	o, err := egg.Parse(eggText)
	if err != nil {
		return nil, &Failure{Err: err,
			What:  fmt.Sprintf("the Egg from %s is not a Seal Egg (%s)", source, oneLine(err.Error())),
			Check: "it must hold the output of `sealctl egg mint`, whole and unchanged"}
	}
	c, err := rotapi.NewClient(o.ROT, []byte(o.ROTCA), nil)
	if err != nil {
		return nil, &Failure{Err: err,
			What:  fmt.Sprintf("the Egg from %s has no usable rotCA (%s)", source, cause(err)),
			Check: "mint a new Egg with `sealctl egg mint`"}
	}
	return &Enroller{eggText: strings.TrimSpace(eggText), outer: o, client: c}, nil
}

// ROT is the URL of the ROT the Egg names.
func (e *Enroller) ROT() string { return e.outer.ROT }

// TrustDomain is the trust domain the Egg names.
func (e *Enroller) TrustDomain() string { return e.outer.TrustDomain }

func (e *Enroller) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

func (e *Enroller) sleep(ctx context.Context, d time.Duration) error {
	if e.Sleep != nil {
		return e.Sleep(ctx, d)
	}
	return sleepCtx(ctx, d)
}

func (e *Enroller) log() *slog.Logger {
	if e.Log != nil {
		return e.Log
	}
	return slog.Default()
}

// RedeemOnce makes one redemption: a new P-256 key, a CSR, one call to the ROT, and checks of
// the answer. It does not retry or write.
func (e *Enroller) RedeemOnce(ctx context.Context) (*Identity, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("enroll: generating key: %w", err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		return nil, fmt.Errorf("enroll: creating CSR: %w", err)
	}
	ev, err := e.evidence(ctx)
	if err != nil {
		return nil, err
	}
	req := &rotapi.RedeemRequest{
		Egg:           e.eggText,
		CSR:           string(pemBlock("CERTIFICATE REQUEST", csr)),
		Hostnames:     e.Hostnames,
		FederatesWith: e.FederatesWith,
		Evidence:      ev,
	}
	if e.TokenFile != "" {
		if req.Token, err = readToken(e.TokenFile); err != nil {
			return nil, err
		}
	}
	resp, err := e.client.Redeem(ctx, req)
	if err != nil {
		return nil, retryableAttest(err)
	}
	return newIdentity(key, resp, e.now())
}

// Redeem redeems the Egg, retrying with backoff while the ROT is unreachable or failing, until
// deadline. Failures are *Failure.
func (e *Enroller) Redeem(ctx context.Context, deadline time.Time) (*Identity, error) {
	start := e.now()
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, min(max(deadline.Sub(e.now()), time.Second), maxAttemptTimeout))
		id, err := e.RedeemOnce(actx)
		cancel()
		if err == nil {
			return id, nil
		}
		if ctx.Err() != nil {
			return nil, &Failure{Err: ctx.Err(),
				What:  fmt.Sprintf("stopped before the ROT at %s answered (%d attempts, last: %s)", e.ROT(), attempt, cause(err)),
				Check: "the container was told to stop"}
		}
		if f := (*Failure)(nil); errors.As(err, &f) {
			return nil, f // the TPM failed: retrying the ROT does not help
		}
		left := deadline.Sub(e.now())
		if permanent(err) || left <= 0 {
			return nil, redeemFailure(e.ROT(), err, attempt, e.now().Sub(start).Round(time.Second).String())
		}
		d := min(e.Backoff.Delay(attempt-1), left)
		e.log().Warn("ROT not answering yet; retrying", "rot", e.ROT(), "attempt", attempt, "in", d.Round(time.Millisecond).String(), "cause", cause(err))
		if serr := e.sleep(ctx, d); serr != nil {
			return nil, &Failure{Err: serr,
				What:  fmt.Sprintf("stopped while waiting for the ROT at %s (%d attempts, last: %s)", e.ROT(), attempt, cause(err)),
				Check: "the container was told to stop"}
		}
	}
}

// Enroll redeems the Egg (retrying up to Timeout) and writes the file set.
func (e *Enroller) Enroll(ctx context.Context) (*Identity, error) {
	timeout := e.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	deadline := e.now().Add(timeout)
	id, err := e.Redeem(ctx, deadline)
	if err != nil {
		return nil, err
	}
	if e.Secrets && e.Writer != nil {
		if err := e.firstSecrets(ctx, id, deadline); err != nil {
			return nil, err
		}
	}
	if err := e.write(id); err != nil {
		return nil, err
	}
	return id, nil
}

func (e *Enroller) write(id *Identity) error {
	e.sec.mu.Lock()
	defer e.sec.mu.Unlock()
	return e.writeLocked(id)
}

// writeLocked writes id's file set with the current secrets; call with e.sec.mu held.
func (e *Enroller) writeLocked(id *Identity) error {
	if e.Writer == nil {
		return nil
	}
	if err := e.Writer.Write(e.filesLocked(id)); err != nil {
		return &Failure{Err: err,
			What:  fmt.Sprintf("cannot write the identity files into %s (%s)", e.Writer.Dir, cause(err)),
			Check: "check that --out is the pod's writable seal volume and --gid a group this container may use"}
	}
	e.sec.id = id
	e.log().Info("wrote identity", "dir", e.Writer.Dir, "spiffeID", id.SPIFFEID, "notAfter", id.NotAfter.UTC().Format(time.RFC3339))
	return nil
}
