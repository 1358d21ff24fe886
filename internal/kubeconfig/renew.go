package kubeconfig

import (
	"context"
	"crypto"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"time"

	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/util/keyutil"
)

// RenewOptions tune Renew.
type RenewOptions struct {
	// TTL overrides the lifetime each certificate was issued with (remembered in the file).
	TTL time.Duration
	// Within renews only certificates that expire within this long (0: all of them).
	Within time.Duration
	// NoApprove, KeepCSR, Timeout, Log and Rand are as in Options.
	NoApprove bool
	KeepCSR   bool
	Timeout   time.Duration
	Log       io.Writer
	Rand      io.Reader
	// Now is the clock for Within; nil for time.Now.
	Now func() time.Time
}

// Renewal says what Renew did with one context.
type Renewal struct {
	Context  string    `json:"context"`
	Renewed  bool      `json:"renewed"`
	NotAfter time.Time `json:"notAfter"`
}

// Renew asks every context's cluster for a new certificate for the same key, user and groups,
// through the target whose server is the context's server, and returns the updated
// kubeconfig (cfg itself is not changed). Nothing is returned unless every context renewed.
func Renew(ctx context.Context, cfg *clientcmdapi.Config, targets []Target, o RenewOptions) (*clientcmdapi.Config, []Renewal, error) {
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if len(cfg.Contexts) == 0 {
		return nil, nil, errors.New("kubeconfig: the kubeconfig has no context to renew")
	}
	out := cfg.DeepCopy()
	var done []Renewal
	for _, d := range describe(cfg) {
		if d.Problem != "" {
			return nil, nil, fmt.Errorf("kubeconfig: context %s: %s", d.Name, d.Problem)
		}
		if o.Within > 0 && d.NotAfter.Sub(o.Now()) > o.Within {
			done = append(done, Renewal{Context: d.Name, NotAfter: d.NotAfter})
			continue
		}
		t, err := targetFor(targets, d)
		if err != nil {
			return nil, nil, err
		}
		ai := out.AuthInfos[cfg.Contexts[d.Name].AuthInfo]
		k, err := keyutil.ParsePrivateKeyPEM(ai.ClientKeyData)
		if err != nil {
			return nil, nil, fmt.Errorf("kubeconfig: context %s: client-key-data: %w", d.Name, err)
		}
		key, ok := k.(crypto.Signer)
		if !ok {
			return nil, nil, fmt.Errorf("kubeconfig: context %s: client-key-data is not a signing key", d.Name)
		}
		m, _ := metaOf(ai)
		opt := Options{User: d.User, Groups: d.Groups, TTL: m.ttl(o.TTL, d), Signer: m.Signer,
			NoApprove: o.NoApprove, KeepCSR: o.KeepCSR, Timeout: o.Timeout, Log: o.Log, Rand: o.Rand}
		if err := opt.defaults(); err != nil {
			return nil, nil, fmt.Errorf("kubeconfig: context %s: %w", d.Name, err)
		}
		csr, err := csrPEM(o.Rand, key, d.User, d.Groups)
		if err != nil {
			return nil, nil, err
		}
		cert, err := obtain(ctx, t, opt, csr)
		if err != nil {
			return nil, nil, err
		}
		if err := checkIssued(cert, key.Public(), d.User, t.Name); err != nil {
			return nil, nil, err
		}
		ai.ClientCertificateData = cert
		c, _ := leaf(cert) // checkIssued parsed it
		done = append(done, Renewal{Context: d.Name, Renewed: true, NotAfter: c.NotAfter.UTC()})
	}
	return out, done, nil
}

// ttl is the lifetime to renew with: the override, else the one remembered, else the old
// certificate's.
func (m meta) ttl(override time.Duration, d Context) time.Duration {
	switch {
	case override > 0:
		return override
	case m.TTLSeconds > 0:
		return time.Duration(m.TTLSeconds) * time.Second
	default:
		return d.NotAfter.Sub(d.NotBefore).Truncate(time.Minute)
	}
}

// targetFor is the admin target that reaches the context's server.
func targetFor(targets []Target, d Context) (Target, error) {
	for _, t := range targets {
		if sameServer(t.Config.Host, d.Server) {
			return t, nil
		}
	}
	return Target{}, fmt.Errorf("kubeconfig: context %s: no admin kubeconfig reaches its server %s: pass --kubeconfig (and --context) for that cluster", d.Name, d.Server)
}
