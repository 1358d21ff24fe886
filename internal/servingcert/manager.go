package servingcert

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Keys of the CA Secret.
const (
	KeyCACert       = "ca.crt"
	KeyCAKey        = "ca.key"
	KeyPreviousCert = "previous-ca.crt"
)

// Manager keeps the webhook's serving certificate and its CA. Fields are set before Start.
type Manager struct {
	// Client reads and writes the CA Secret and the webhook configurations.
	Client client.Client
	// Namespace and SecretName locate the CA Secret (SecretName default "seal-webhook-ca").
	Namespace, SecretName string
	// DNSNames and IPs go into the leaf (e.g. seal-webhook.seal-system.svc).
	DNSNames []string
	IPs      []net.IP
	// MutatingConfigs and ValidatingConfigs name the webhook configurations whose webhooks get
	// the caBundle. A configuration that does not exist (yet) is skipped.
	MutatingConfigs, ValidatingConfigs []string
	// CAValidity (default 1 year) and CARotateBefore (default a third of it): a new CA is made
	// when the current one has less than CARotateBefore left; the old one stays in the caBundle
	// until it expires.
	CAValidity, CARotateBefore time.Duration
	// LeafValidity (default 7 days, and less than CARotateBefore) and LeafRenewBefore (default
	// a third of it).
	LeafValidity, LeafRenewBefore time.Duration
	// Interval between checks (default 1 minute).
	Interval time.Duration
	// Now and Rand default to time.Now and crypto/rand.
	Now  func() time.Time
	Rand io.Reader
	Log  *slog.Logger

	mu     sync.RWMutex
	leaf   *tls.Certificate
	bundle []byte
}

func (m *Manager) defaults() {
	if m.SecretName == "" {
		m.SecretName = "seal-webhook-ca"
	}
	if m.CAValidity <= 0 {
		m.CAValidity = 365 * 24 * time.Hour
	}
	if m.CARotateBefore <= 0 {
		m.CARotateBefore = m.CAValidity / 3
	}
	if m.LeafValidity <= 0 {
		m.LeafValidity = 7 * 24 * time.Hour
	}
	if m.LeafValidity >= m.CARotateBefore {
		m.LeafValidity = m.CARotateBefore / 2
	}
	if m.LeafRenewBefore <= 0 {
		m.LeafRenewBefore = m.LeafValidity / 3
	}
	if m.Interval <= 0 {
		m.Interval = time.Minute
	}
	if m.Now == nil {
		m.Now = time.Now
	}
	if m.Log == nil {
		m.Log = slog.Default()
	}
}

// Start syncs until the first certificate exists (retrying), then every Interval until ctx ends.
func (m *Manager) Start(ctx context.Context) error {
	m.defaults()
	backoff := time.Second
	for {
		err := m.Sync(ctx)
		if err == nil {
			break
		}
		m.Log.Error("serving certificate not ready", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
	t := time.NewTicker(m.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := m.Sync(ctx); err != nil {
				m.Log.Error("serving certificate sync", "err", err)
			}
		}
	}
}

// GetCertificate serves the current leaf (for tls.Config.GetCertificate).
func (m *Manager) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.leaf == nil {
		return nil, errors.New("servingcert: no serving certificate yet")
	}
	return m.leaf, nil
}

// CABundle is the PEM of the CAs clients must trust (current first).
func (m *Manager) CABundle() []byte {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return bytes.Clone(m.bundle)
}

// Sync makes one round: ensure the CA (create, rotate, drop the expired previous one), renew
// the leaf when due, and patch the caBundle into the webhook configurations.
func (m *Manager) Sync(ctx context.Context) error {
	m.defaults()
	var ca *CA
	var bundle []byte
	var err error
	for attempt := 0; ; attempt++ {
		ca, bundle, err = m.syncSecret(ctx)
		if err == nil || !apierrors.IsConflict(err) && !apierrors.IsAlreadyExists(err) || attempt == 4 {
			break
		}
		// Another replica wrote the Secret first: read its CA and go on from there.
	}
	if err != nil {
		return err
	}
	now := m.Now()
	m.mu.Lock()
	if m.leaf == nil || now.After(m.leaf.Leaf.NotAfter.Add(-m.LeafRenewBefore)) || !signedByOneOf(m.leaf.Leaf, bundle) {
		leaf, err := ca.Issue(m.DNSNames, m.IPs, now, m.LeafValidity, m.Rand)
		if err != nil {
			m.mu.Unlock()
			return err
		}
		m.leaf = leaf
		m.Log.Info("serving certificate issued", "dnsNames", m.DNSNames, "notAfter", leaf.Leaf.NotAfter)
	}
	m.bundle = bundle
	m.mu.Unlock()
	return m.patchConfigs(ctx, bundle)
}

// syncSecret returns the current CA and the caBundle, creating or updating the Secret as needed.
func (m *Manager) syncSecret(ctx context.Context) (*CA, []byte, error) {
	now := m.Now()
	var sec corev1.Secret
	err := m.Client.Get(ctx, client.ObjectKey{Namespace: m.Namespace, Name: m.SecretName}, &sec)
	if apierrors.IsNotFound(err) {
		ca, err := NewCA("seal-webhook CA", now, m.CAValidity, m.Rand)
		if err != nil {
			return nil, nil, err
		}
		sec = corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: m.Namespace, Name: m.SecretName,
				Labels: map[string]string{"app.kubernetes.io/name": "seal-webhook", "app.kubernetes.io/component": "serving-ca"}},
			Type: corev1.SecretTypeOpaque,
			Data: map[string][]byte{KeyCACert: ca.CertPEM, KeyCAKey: ca.KeyPEM},
		}
		if err := m.Client.Create(ctx, &sec); err != nil {
			return nil, nil, err // AlreadyExists: another replica won; the caller reads it
		}
		m.Log.Info("serving CA created", "secret", m.Namespace+"/"+m.SecretName, "notAfter", ca.Cert.NotAfter)
		return ca, ca.CertPEM, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("servingcert: reading Secret %s/%s: %w", m.Namespace, m.SecretName, err)
	}
	ca, err := ParseCA(sec.Data[KeyCACert], sec.Data[KeyCAKey])
	if err != nil {
		return nil, nil, fmt.Errorf("servingcert: Secret %s/%s: %w (delete the Secret to make a new CA)", m.Namespace, m.SecretName, err)
	}
	prev := sec.Data[KeyPreviousCert]
	changed := false
	if now.After(ca.Cert.NotAfter.Add(-m.CARotateBefore)) {
		next, err := NewCA("seal-webhook CA", now, m.CAValidity, m.Rand)
		if err != nil {
			return nil, nil, err
		}
		prev, ca = ca.CertPEM, next
		sec.Data[KeyCACert], sec.Data[KeyCAKey], sec.Data[KeyPreviousCert] = ca.CertPEM, ca.KeyPEM, prev
		changed = true
		m.Log.Info("serving CA rotated; the previous CA stays trusted until it expires", "notAfter", ca.Cert.NotAfter)
	}
	if len(prev) > 0 && expired(prev, now) {
		prev = nil
		delete(sec.Data, KeyPreviousCert)
		changed = true
		m.Log.Info("previous serving CA expired and removed from the bundle")
	}
	if changed {
		if err := m.Client.Update(ctx, &sec); err != nil {
			return nil, nil, err // Conflict: another replica changed it; the caller retries
		}
	}
	return ca, append(bytes.Clone(ca.CertPEM), prev...), nil
}

// patchConfigs sets every webhook's clientConfig.caBundle in the named configurations.
func (m *Manager) patchConfigs(ctx context.Context, bundle []byte) error {
	var errs []error
	for _, name := range m.MutatingConfigs {
		var c admissionregistrationv1.MutatingWebhookConfiguration
		errs = append(errs, m.patchOne(ctx, name, &c, func() bool {
			changed := false
			for i := range c.Webhooks {
				if !bytes.Equal(c.Webhooks[i].ClientConfig.CABundle, bundle) {
					c.Webhooks[i].ClientConfig.CABundle, changed = bundle, true
				}
			}
			return changed
		}))
	}
	for _, name := range m.ValidatingConfigs {
		var c admissionregistrationv1.ValidatingWebhookConfiguration
		errs = append(errs, m.patchOne(ctx, name, &c, func() bool {
			changed := false
			for i := range c.Webhooks {
				if !bytes.Equal(c.Webhooks[i].ClientConfig.CABundle, bundle) {
					c.Webhooks[i].ClientConfig.CABundle, changed = bundle, true
				}
			}
			return changed
		}))
	}
	return errors.Join(errs...)
}

func (m *Manager) patchOne(ctx context.Context, name string, obj client.Object, set func() bool) error {
	// Several replicas patch the same configuration: on a conflict, read it again.
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := m.Client.Get(ctx, client.ObjectKey{Name: name}, obj); err != nil {
			if apierrors.IsNotFound(err) {
				m.Log.Debug("webhook configuration not found; caBundle not patched", "name", name)
				return nil
			}
			return fmt.Errorf("servingcert: reading webhook configuration %s: %w", name, err)
		}
		if !set() {
			return nil
		}
		if err := m.Client.Update(ctx, obj); err != nil {
			if apierrors.IsConflict(err) {
				return err
			}
			return fmt.Errorf("servingcert: patching caBundle into %s: %w", name, err)
		}
		m.Log.Info("caBundle patched", "configuration", name)
		return nil
	})
}

func expired(certPEM []byte, now time.Time) bool {
	b, _ := pem.Decode(certPEM)
	if b == nil {
		return true
	}
	c, err := x509.ParseCertificate(b.Bytes)
	return err != nil || now.After(c.NotAfter)
}

func signedByOneOf(leaf *x509.Certificate, bundle []byte) bool {
	for rest := bundle; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return false
		}
		if ca, err := x509.ParseCertificate(b.Bytes); err == nil && leaf.CheckSignatureFrom(ca) == nil {
			return true
		}
	}
}
