package kubestore

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// adminCreds are the admin client credentials (PEM).
type adminCreds struct{ cert, key, ca []byte }

// firstStartGrace is how old an admin Secret with no ROT CA beside it must be before a first
// start replaces it: younger, another seal-rot is creating the ROT CA right now.
const firstStartGrace = 2 * time.Minute

// WriteAdmin writes the admin client credentials (what seal-rot creates on its first start)
// to Secret seal-rot-admin (type kubernetes.io/tls: tls.crt, tls.key, ca.crt), before the ROT
// authority is saved. So that a replica that loses the first-start race cannot replace the
// winner's credentials, it refuses (ErrConflict) when the authority exists, and when another
// first start wrote the admin Secret less than firstStartGrace ago (two replicas of a new
// Deployment start at once: the first to create the Secret goes on, the other exits and
// restarts onto the winner's state). An older admin Secret with no authority is what a first
// start that stopped before saving its ROT CA left: it is replaced.
func (s *Store) WriteAdmin(ctx context.Context, cert, key, caPEM []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var sec corev1.Secret
	err := s.c.Get(ctx, client.ObjectKey{Namespace: s.ns, Name: AuthoritySecret}, &sec)
	if err == nil {
		return fmt.Errorf("%w: secret %s/%s exists: another seal-rot created the ROT CA first", ErrConflict, s.ns, AuthoritySecret)
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("kubestore: reading secret %s/%s: %w", s.ns, AuthoritySecret, err)
	}
	a := &adminCreds{cert: cert, key: key, ca: caPEM}
	want := s.adminSecret(a)
	err = s.c.Create(ctx, want)
	if apierrors.IsAlreadyExists(err) {
		var cur corev1.Secret
		if err := s.c.Get(ctx, client.ObjectKeyFromObject(want), &cur); err != nil {
			return fmt.Errorf("kubestore: reading secret %s/%s: %w", s.ns, AdminSecret, err)
		}
		if age := s.opts.Now().Sub(cur.CreationTimestamp.Time); age < firstStartGrace {
			return fmt.Errorf("%w: secret %s/%s was written %s ago and there is no ROT CA yet: another seal-rot is creating it",
				ErrConflict, s.ns, AdminSecret, age.Round(time.Second))
		}
		cur.Data, cur.Labels, cur.Type = want.Data, want.Labels, want.Type
		err = s.c.Update(ctx, &cur) // fails with a conflict if another start changed it meanwhile
		if apierrors.IsConflict(err) {
			return fmt.Errorf("%w: secret %s/%s changed: another seal-rot is creating the ROT CA", ErrConflict, s.ns, AdminSecret)
		}
	}
	if err != nil {
		return fmt.Errorf("kubestore: writing secret %s/%s: %w", s.ns, AdminSecret, err)
	}
	s.admin = a
	return nil
}

func (s *Store) adminSecret(a *adminCreds) *corev1.Secret {
	sec := s.secret(AdminSecret, "admin", map[string][]byte{
		corev1.TLSCertKey: a.cert, corev1.TLSPrivateKeyKey: a.key, "ca.crt": a.ca,
	})
	sec.Type = corev1.SecretTypeTLS
	return sec
}

// ReplaceAdmin overwrites Secret seal-rot-admin with fresh credentials issued from the stored
// ROT CA (seal-rot admin-cert --kube: the admin certificate expires, or the old one is revoked).
func (s *Store) ReplaceAdmin(ctx context.Context, cert, key, caPEM []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writeAdmin(ctx, &adminCreds{cert: cert, key: key, ca: caPEM})
}

func (s *Store) writeAdmin(ctx context.Context, a *adminCreds) error {
	sec := s.adminSecret(a)
	err := s.c.Create(ctx, sec)
	if apierrors.IsAlreadyExists(err) {
		err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
			var cur corev1.Secret
			if err := s.c.Get(ctx, client.ObjectKeyFromObject(sec), &cur); err != nil {
				return err
			}
			cur.Data, cur.Labels = sec.Data, sec.Labels
			return s.c.Update(ctx, &cur)
		})
	}
	if err != nil {
		return fmt.Errorf("kubestore: writing secret %s/%s: %w", s.ns, AdminSecret, err)
	}
	return nil
}

// AdminCertPEM returns tls.crt of Secret seal-rot-admin, or nil when there is none: the
// admin certificate handed out before the admin allow-list existed, which seal-rot
// admin-cert lists first so it keeps working through the upgrade.
func (s *Store) AdminCertPEM(ctx context.Context) ([]byte, error) {
	var sec corev1.Secret
	err := s.c.Get(ctx, client.ObjectKey{Namespace: s.ns, Name: AdminSecret}, &sec)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("kubestore: reading secret %s/%s: %w", s.ns, AdminSecret, err)
	}
	return sec.Data[corev1.TLSCertKey], nil
}
