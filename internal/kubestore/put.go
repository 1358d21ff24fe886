package kubestore

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/seal-dev/seal/internal/rot"
	"github.com/seal-dev/seal/internal/store"
	sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"
)

func (s *Store) secret(name, kind string, data map[string][]byte) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.ns, Labels: s.labels(kind)},
		Type:       corev1.SecretTypeOpaque,
		Data:       data,
	}
}

// putVersioned creates the Secret when rv is empty, else updates it only if it is still at
// rv. It returns the new resourceVersion.
func (s *Store) putVersioned(ctx context.Context, sec *corev1.Secret, rv string) (string, error) {
	var err error
	if rv == "" {
		err = s.c.Create(ctx, sec)
	} else {
		sec.ResourceVersion = rv
		err = s.c.Update(ctx, sec)
	}
	if err != nil {
		return "", conflict(err, "writing secret "+s.ns+"/"+sec.Name)
	}
	return sec.ResourceVersion, nil
}

// PutAuthority writes Secret seal-rot-authority (created on the first start, afterwards
// updated only at the resourceVersion last loaded).
func (s *Store) PutAuthority(ctx context.Context, a *store.Authority) error {
	b, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("kubestore: encoding authority: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	created := s.authorityRV == ""
	rv, err := s.putVersioned(ctx, s.secret(AuthoritySecret, "authority", map[string][]byte{authorityKey: b}), s.authorityRV)
	if err != nil {
		return err
	}
	s.authorityRV = rv
	if created && s.admin != nil {
		// Another replica racing for the first start may have overwritten the admin Secret
		// before this one won the authority: put back the credentials of the winning CA.
		if err := s.writeAdmin(ctx, s.admin); err != nil {
			return err
		}
	}
	return nil
}

// PutWorkload writes Secret seal-workload-NAME (at the resourceVersion last loaded) and makes
// sure the Workload resource exists, then writes its status. An existing resource's spec is
// the user's and is left as it is.
func (s *Store) PutWorkload(ctx context.Context, w *store.Workload) error {
	name := w.Spec.Name
	if err := rot.CheckName("workload name", name); err != nil {
		return fmt.Errorf("kubestore: %w", err)
	}
	spec, err := crSpec(w.Spec)
	if err != nil {
		return err
	}
	b, err := json.Marshal(w)
	if err != nil {
		return fmt.Errorf("kubestore: encoding workload %q: %w", name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rv, err := s.putVersioned(ctx, s.secret(WorkloadPrefix+name, "workload", map[string][]byte{workloadKey: b}), s.workloadRV[name])
	if err != nil {
		return err
	}
	s.workloadRV[name] = rv
	cr := &sealv1.Workload{ObjectMeta: metav1.ObjectMeta{Name: name, Finalizers: []string{Finalizer}}, Spec: spec}
	if err := s.c.Create(ctx, cr); apierrors.IsAlreadyExists(err) {
		if err := s.c.Get(ctx, client.ObjectKey{Name: name}, cr); err != nil {
			return fmt.Errorf("kubestore: reading Workload %q: %w", name, err)
		}
		if err := s.ensureFinalizer(ctx, cr); err != nil {
			return err
		}
		if err := s.syncBindings(ctx, cr, w.Spec.Bindings); err != nil {
			return err
		}
	} else if err != nil {
		return fmt.Errorf("kubestore: creating Workload %q: %w", name, err)
	}
	a, _ := s.currentAuthority(ctx)
	return s.writeWorkloadStatus(ctx, cr, s.workloadStatus(cr, w, nil, a))
}

// currentAuthority reads the authority (nil when missing or unreadable).
func (s *Store) currentAuthority(ctx context.Context) (*store.Authority, error) {
	var sec corev1.Secret
	if err := s.c.Get(ctx, client.ObjectKey{Namespace: s.ns, Name: AuthoritySecret}, &sec); err != nil {
		return nil, err
	}
	return s.parseAuthority(&sec)
}

func (s *Store) ensureFinalizer(ctx context.Context, cr *sealv1.Workload) error {
	if cr.DeletionTimestamp != nil || controllerutil.ContainsFinalizer(cr, Finalizer) {
		return nil
	}
	patch := client.MergeFromWithOptions(cr.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.AddFinalizer(cr, Finalizer)
	if err := s.c.Patch(ctx, cr, patch); err != nil {
		return conflict(err, "adding finalizer to Workload "+cr.Name)
	}
	return nil
}

// writeWorkloadStatus updates cr's status to st unless it already is st.
func (s *Store) writeWorkloadStatus(ctx context.Context, cr *sealv1.Workload, st sealv1.WorkloadStatus) error {
	if equality.Semantic.DeepEqual(cr.Status, st) {
		return nil
	}
	patch := client.MergeFrom(cr.DeepCopy())
	cr.Status = st
	if err := s.c.Status().Patch(ctx, cr, patch); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("kubestore: writing status of Workload %q: %w", cr.Name, err)
	}
	return nil
}

// DeleteWorkload deletes the Workload resource and its Secret; ErrNotFound when neither exists.
func (s *Store) DeleteWorkload(ctx context.Context, name string) error {
	if err := rot.CheckName("workload name", name); err != nil {
		return fmt.Errorf("kubestore: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	crErr := s.c.Delete(ctx, &sealv1.Workload{ObjectMeta: metav1.ObjectMeta{Name: name}})
	if crErr != nil && !apierrors.IsNotFound(crErr) {
		return fmt.Errorf("kubestore: deleting Workload %q: %w", name, crErr)
	}
	found, err := s.finalize(ctx, name, nil)
	if err != nil {
		return err
	}
	if apierrors.IsNotFound(crErr) && !found {
		return fmt.Errorf("%w: workload %q", store.ErrNotFound, name)
	}
	return nil
}

// finalize revokes the given Eggs, deletes the workload's Secret and drops the finalizer from
// its (deleted) resource. It reports whether the Secret existed.
func (s *Store) finalize(ctx context.Context, name string, revoke []*store.Egg) (bool, error) {
	for _, e := range revoke {
		r := *e
		r.Revoked = true
		if err := s.putEgg(ctx, &r); err != nil {
			return false, err
		}
	}
	err := s.c.Delete(ctx, s.secret(WorkloadPrefix+name, "workload", nil))
	if err != nil && !apierrors.IsNotFound(err) {
		return false, fmt.Errorf("kubestore: deleting secret %s/%s%s: %w", s.ns, WorkloadPrefix, name, err)
	}
	found := err == nil
	if err := s.deleteSecrets(ctx, name); err != nil {
		return false, err
	}
	delete(s.workloadRV, name)
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var cr sealv1.Workload
		if err := s.c.Get(ctx, client.ObjectKey{Name: name}, &cr); err != nil {
			return err
		}
		if cr.DeletionTimestamp == nil || !controllerutil.ContainsFinalizer(&cr, Finalizer) {
			return nil
		}
		controllerutil.RemoveFinalizer(&cr, Finalizer)
		return s.c.Update(ctx, &cr)
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return false, fmt.Errorf("kubestore: removing the finalizer of Workload %q: %w", name, err)
	}
	return found, nil
}

// eggShard is the Secret that holds egg id: Eggs are spread over 16 Secrets so each stays far
// below the 1 MiB object limit.
func eggShard(id string) string {
	h := sha256.Sum256([]byte(id))
	return fmt.Sprintf("%s%x", EggsPrefix, h[0]>>4)
}

// PutEgg writes the Egg under its id in its shard Secret seal-rot-eggs-<0-f>, merging with
// concurrent writes of other Eggs (retried on conflict).
func (s *Store) PutEgg(ctx context.Context, e *store.Egg) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.putEgg(ctx, e)
}

func (s *Store) putEgg(ctx context.Context, e *store.Egg) error {
	if e.ID == "" || !isSecretKey(e.ID) {
		return fmt.Errorf("kubestore: invalid egg id %q", e.ID)
	}
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("kubestore: encoding egg: %w", err)
	}
	return s.putKey(ctx, eggShard(e.ID), "eggs", e.ID, b)
}

// putKey sets key to value in the Secret name, creating it, retrying on conflicts.
func (s *Store) putKey(ctx context.Context, name, kind, key string, value []byte) error {
	return s.putKeyIf(ctx, name, kind, key, value, nil)
}

// putKeyIf is putKey that first asks check about the key's current value (nil when absent), in
// the same read-modify-write: an error from check stops the write, as a concurrent writer's
// change it is checked against cannot slip in between (the update carries the version read).
func (s *Store) putKeyIf(ctx context.Context, name, kind, key string, value []byte, check func(old []byte) error) error {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var sec corev1.Secret
		err := s.c.Get(ctx, client.ObjectKey{Namespace: s.ns, Name: name}, &sec)
		if apierrors.IsNotFound(err) {
			if check != nil {
				if err := check(nil); err != nil {
					return err
				}
			}
			err = s.c.Create(ctx, s.secret(name, kind, map[string][]byte{key: value}))
			if apierrors.IsAlreadyExists(err) {
				return apierrors.NewConflict(corev1.Resource("secrets"), name, err)
			}
			return err
		}
		if err != nil {
			return err
		}
		if check != nil {
			if err := check(sec.Data[key]); err != nil {
				return err
			}
		}
		size := len(value)
		for k, v := range sec.Data {
			if k != key {
				size += len(k) + len(v)
			}
		}
		if size > maxSecretData {
			return fmt.Errorf("secret %s/%s would hold %d bytes, over the %d limit of this store", s.ns, name, size, maxSecretData)
		}
		if sec.Data == nil {
			sec.Data = map[string][]byte{}
		}
		sec.Data[key] = value
		return s.c.Update(ctx, &sec)
	})
	if err != nil {
		return conflict(err, fmt.Sprintf("writing %s into secret %s/%s", key, s.ns, name))
	}
	return nil
}

func isSecretKey(k string) bool {
	return len(k) <= 253 && !slices.ContainsFunc([]byte(k), func(c byte) bool {
		return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.')
	})
}
