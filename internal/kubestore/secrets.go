package kubestore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seal-dev/seal/internal/rot"
	"github.com/seal-dev/seal/internal/store"
)

// SecretsPrefix names the Secret seal-secrets-<workload> that holds a workload's secrets, one
// key per secret name (its record, the value age-encrypted to the workload's data key). It is
// labelled seal.dev/state=secrets and seal.dev/workload=<workload>.
const SecretsPrefix = "seal-secrets-"

const workloadLabel = "seal.dev/workload"

// PutSecret writes a secret's record under its name in Secret seal-secrets-<workload>,
// creating the Secret, merging with concurrent writes of other secrets (retried on conflict).
func (s *Store) PutSecret(ctx context.Context, sec *store.Secret) error {
	if err := rot.CheckName("workload name", sec.Workload); err != nil {
		return fmt.Errorf("kubestore: %w", err)
	}
	if err := store.CheckSecretName(sec.Name); err != nil {
		return fmt.Errorf("kubestore: %w", err)
	}
	b, err := json.Marshal(sec)
	if err != nil {
		return fmt.Errorf("kubestore: encoding secret: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.putSecretKey(ctx, sec.Workload, sec.Name, b)
}

// putSecretKey sets key to value in the Secret seal-secrets-<workload>, creating it with the
// workload's labels, retrying on conflicts (as putKey does for the other shared Secrets).
func (s *Store) putSecretKey(ctx context.Context, workload, key string, value []byte) error {
	name := SecretsPrefix + workload
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var sec corev1.Secret
		err := s.c.Get(ctx, client.ObjectKey{Namespace: s.ns, Name: name}, &sec)
		if apierrors.IsNotFound(err) {
			n := s.secret(name, "secrets", map[string][]byte{key: value})
			n.Labels[workloadLabel] = workload
			err = s.c.Create(ctx, n)
			if apierrors.IsAlreadyExists(err) {
				return apierrors.NewConflict(corev1.Resource("secrets"), name, err)
			}
			return err
		}
		if err != nil {
			return err
		}
		size := len(key) + len(value)
		for k, v := range sec.Data {
			if k != key {
				size += len(k) + len(v)
			}
		}
		if size > maxSecretData {
			return fmt.Errorf("secret %s/%s would hold %d bytes, over the %d limit of this store; fix: delete secrets of workload %q you no longer need", s.ns, name, size, maxSecretData, workload)
		}
		if sec.Data == nil {
			sec.Data = map[string][]byte{}
		}
		sec.Data[key] = value
		return s.c.Update(ctx, &sec)
	})
	if err != nil {
		return fmt.Errorf("kubestore: writing secret %q into %s/%s: %w", key, s.ns, name, err)
	}
	return nil
}

// DeleteSecret removes a secret's key from Secret seal-secrets-<workload>, and the Secret
// when it was the last; ErrNotFound when there is no such secret.
func (s *Store) DeleteSecret(ctx context.Context, workload, name string) error {
	if err := rot.CheckName("workload name", workload); err != nil {
		return fmt.Errorf("kubestore: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	obj := SecretsPrefix + workload
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var sec corev1.Secret
		err := s.c.Get(ctx, client.ObjectKey{Namespace: s.ns, Name: obj}, &sec)
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("%w: secret %q of workload %q", store.ErrNotFound, name, workload)
		}
		if err != nil {
			return fmt.Errorf("kubestore: reading secret %s/%s: %w", s.ns, obj, err)
		}
		if _, ok := sec.Data[name]; !ok {
			return fmt.Errorf("%w: secret %q of workload %q", store.ErrNotFound, name, workload)
		}
		if len(sec.Data) == 1 {
			return s.c.Delete(ctx, &sec, client.Preconditions{ResourceVersion: &sec.ResourceVersion})
		}
		delete(sec.Data, name)
		return s.c.Update(ctx, &sec)
	})
}

// deleteSecrets removes the secrets of a deleted workload.
func (s *Store) deleteSecrets(ctx context.Context, workload string) error {
	err := s.c.Delete(ctx, s.secret(SecretsPrefix+workload, "secrets", nil))
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("kubestore: deleting secret %s/%s%s: %w", s.ns, SecretsPrefix, workload, err)
	}
	return nil
}

// loadSecrets reads every seal-secrets-<workload> Secret into st; one that does not parse
// makes the state corrupt.
func (s *Store) loadSecrets(ctx context.Context, st *store.State) error {
	var list corev1.SecretList
	if err := s.c.List(ctx, &list, client.InNamespace(s.ns), client.MatchingLabels{"seal.dev/state": "secrets"}); err != nil {
		return fmt.Errorf("kubestore: listing secrets in %s: %w", s.ns, err)
	}
	for i := range list.Items {
		sec := &list.Items[i]
		wl, ok := strings.CutPrefix(sec.Name, SecretsPrefix)
		if !ok {
			continue
		}
		for key := range sec.Data {
			var rec store.Secret
			if err := decodeKey(sec, key, &rec); err != nil {
				return s.corrupt(sec.Name, "%v", err)
			}
			if rec.Workload != wl || rec.Name != key {
				return s.corrupt(sec.Name, "key %q holds secret %q of workload %q", key, rec.Name, rec.Workload)
			}
			if err := store.CheckSecret(&rec); err != nil {
				return s.corrupt(sec.Name, "%v", err)
			}
			st.AddSecret(&rec)
		}
	}
	return nil
}
