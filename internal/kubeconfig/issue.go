package kubeconfig

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// DefaultSigner is the Kubernetes signer for client certificates the API server trusts.
const DefaultSigner = "kubernetes.io/kube-apiserver-client"

// Options say what to ask each cluster for and how long to wait.
type Options struct {
	// User is the certificate's common name: the Kubernetes user name.
	User string
	// Groups are the certificate's organizations: the user's Kubernetes groups.
	Groups []string
	// TTL is the lifetime asked for (spec.expirationSeconds); at least MinTTL. Default 24h.
	TTL time.Duration
	// Signer is spec.signerName. Default DefaultSigner.
	Signer string
	// NoApprove leaves the approval to someone else (a person or a policy controller).
	NoApprove bool
	// KeepCSR leaves the CSR objects in the clusters (by default they are deleted).
	KeepCSR bool
	// Timeout bounds the wait for each cluster's certificate. Default 1m.
	Timeout time.Duration
	// Log receives progress lines (which CSR, waiting for whom); nil for none.
	Log io.Writer
	// Rand is the source of the key and signatures; nil for crypto/rand.
	Rand io.Reader
}

func (o *Options) defaults() error {
	if o.TTL == 0 {
		o.TTL = 24 * time.Hour
	}
	if o.Signer == "" {
		o.Signer = DefaultSigner
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Minute
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	switch {
	case o.User == "":
		return errors.New("kubeconfig: no user name given")
	case o.TTL < MinTTL:
		return fmt.Errorf("kubeconfig: a lifetime of %s is too short: Kubernetes signers issue at least %s", o.TTL, MinTTL)
	case o.TTL/time.Second > 1<<31-1:
		return fmt.Errorf("kubeconfig: a lifetime of %s is too long", o.TTL)
	}
	for _, g := range o.Groups {
		if g == "" {
			return errors.New("kubeconfig: an empty group name")
		}
	}
	return nil
}

// Issue generates a P-256 key and gets a client certificate for o.User in o.Groups from every
// target, then returns one kubeconfig with a cluster, a user and a context per target (the
// first context current). On any failure it returns no kubeconfig: nothing half-issued.
func Issue(ctx context.Context, targets []Target, o Options) (*clientcmdapi.Config, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	if len(targets) == 0 {
		return nil, errors.New("kubeconfig: no cluster given")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), o.Rand)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: generating the key: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: encoding the key: %w", err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	csr, err := csrPEM(o.Rand, key, o.User, o.Groups)
	if err != nil {
		return nil, err
	}
	cfg := clientcmdapi.NewConfig()
	for _, t := range targets {
		entry, err := clusterEntry(t.Config)
		if err != nil {
			return nil, fmt.Errorf("kubeconfig: cluster %s: %w", t.Name, err)
		}
		cert, err := obtain(ctx, t, o, csr)
		if err != nil {
			return nil, err
		}
		if err := checkIssued(cert, key.Public(), o.User, t.Name); err != nil {
			return nil, err
		}
		add(cfg, t.Name, o.User, entry, cert, keyPEM, meta{Signer: o.Signer, TTLSeconds: int64(o.TTL / time.Second)})
		if cfg.CurrentContext == "" {
			cfg.CurrentContext = t.Name
		}
	}
	return cfg, nil
}

// obtain runs one CSR in target t.
func obtain(ctx context.Context, t Target, o Options, csr []byte) ([]byte, error) {
	rc := rest.CopyConfig(t.Config)
	if rc.Timeout == 0 {
		rc.Timeout = 30 * time.Second
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: cluster %s: %w", t.Name, err)
	}
	r := request{cluster: t.Name, client: client, signer: o.Signer, ttl: o.TTL,
		approve: !o.NoApprove, keep: o.KeepCSR, timeout: o.Timeout, log: o.Log}
	return r.do(ctx, csr, o.User)
}

// checkIssued refuses a certificate that is not for key or not for user: a signer that
// answered with someone else's certificate must not end up in the kubeconfig.
func checkIssued(certPEM []byte, pub any, user, cluster string) error {
	c, err := leaf(certPEM)
	if err != nil {
		return fmt.Errorf("kubeconfig: cluster %s: the signer's certificate: %w", cluster, err)
	}
	k, ok := c.PublicKey.(*ecdsa.PublicKey)
	if !ok || !k.Equal(pub) {
		return fmt.Errorf("kubeconfig: cluster %s: the signer issued a certificate for another key", cluster)
	}
	if c.Subject.CommonName != user {
		return fmt.Errorf("kubeconfig: cluster %s: the signer issued a certificate for %q, not %q", cluster, c.Subject.CommonName, user)
	}
	return nil
}
