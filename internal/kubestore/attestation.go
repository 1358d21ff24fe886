package kubestore

import (
	"context"
	"fmt"
	"maps"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seal-dev/seal/internal/store"
	sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"
)

// readAttestation lists the AttestationKey and AttestationPolicy resources into sn: they are
// the state itself (public keys and reference values, nothing secret), edited with sealctl or
// kubectl alike. The ROT checks their content when it loads them.
func (s *Store) readAttestation(ctx context.Context, sn *snapshot) error {
	var keys sealv1.AttestationKeyList
	if err := s.c.List(ctx, &keys); err != nil {
		return fmt.Errorf("kubestore: listing AttestationKeys (are the seal.dev CRDs installed?): %w", err)
	}
	var pols sealv1.AttestationPolicyList
	if err := s.c.List(ctx, &pols); err != nil {
		return fmt.Errorf("kubestore: listing AttestationPolicies (are the seal.dev CRDs installed?): %w", err)
	}
	sn.attestation = store.NewAttestation()
	for _, k := range keys.Items {
		sn.resVersion = append(sn.resVersion, fmt.Sprintf("attestationkey/%s/%d", k.Name, k.Generation))
		if k.DeletionTimestamp == nil {
			sn.attestation.Keys[k.Name] = &store.AttestationKey{Name: k.Name, AKPub: k.Spec.AKPub, Created: k.CreationTimestamp.UTC()}
		}
	}
	for _, p := range pols.Items {
		sn.resVersion = append(sn.resVersion, fmt.Sprintf("attestationpolicy/%s/%d", p.Name, p.Generation))
		if p.DeletionTimestamp == nil {
			sn.attestation.Policies[p.Name] = &store.AttestationPolicy{Name: p.Name, PCRs: maps.Clone(p.Spec.PCRs), Created: p.CreationTimestamp.UTC()}
		}
	}
	return nil
}

// PutAttestationKey creates or updates the AttestationKey resource.
func (s *Store) PutAttestationKey(ctx context.Context, k *store.AttestationKey) error {
	o := &sealv1.AttestationKey{ObjectMeta: metav1.ObjectMeta{Name: k.Name, Labels: s.labels("attestation")}}
	return s.putCluster(ctx, o, func() { o.Spec = sealv1.AttestationKeySpec{AKPub: k.AKPub} })
}

// DeleteAttestationKey deletes the AttestationKey resource.
func (s *Store) DeleteAttestationKey(ctx context.Context, name string) error {
	return s.deleteCluster(ctx, &sealv1.AttestationKey{ObjectMeta: metav1.ObjectMeta{Name: name}}, "attestation key")
}

// PutAttestationPolicy creates or updates the AttestationPolicy resource.
func (s *Store) PutAttestationPolicy(ctx context.Context, p *store.AttestationPolicy) error {
	o := &sealv1.AttestationPolicy{ObjectMeta: metav1.ObjectMeta{Name: p.Name, Labels: s.labels("attestation")}}
	return s.putCluster(ctx, o, func() { o.Spec = sealv1.AttestationPolicySpec{PCRs: maps.Clone(p.PCRs)} })
}

// DeleteAttestationPolicy deletes the AttestationPolicy resource.
func (s *Store) DeleteAttestationPolicy(ctx context.Context, name string) error {
	return s.deleteCluster(ctx, &sealv1.AttestationPolicy{ObjectMeta: metav1.ObjectMeta{Name: name}}, "attestation policy")
}

// putCluster creates o with the spec set, or updates the existing resource's spec.
func (s *Store) putCluster(ctx context.Context, o client.Object, setSpec func()) error {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		err := s.c.Get(ctx, client.ObjectKeyFromObject(o), o)
		if apierrors.IsNotFound(err) {
			setSpec()
			return s.c.Create(ctx, o)
		}
		if err != nil {
			return err
		}
		setSpec()
		return s.c.Update(ctx, o)
	})
	if err != nil {
		return fmt.Errorf("kubestore: writing %T %s: %w", o, o.GetName(), err)
	}
	return nil
}

func (s *Store) deleteCluster(ctx context.Context, o client.Object, what string) error {
	err := s.c.Delete(ctx, o)
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("%w: %s %q", store.ErrNotFound, what, o.GetName())
	}
	if err != nil {
		return fmt.Errorf("kubestore: deleting %s %q: %w", what, o.GetName(), err)
	}
	return nil
}
