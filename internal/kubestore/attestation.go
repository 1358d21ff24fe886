package kubestore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seal-dev/seal/internal/attest"
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
	sn.attest = attestSnapshot{state: store.NewAttestation(), keys: keys.Items, policies: pols.Items}
	for _, k := range keys.Items {
		sn.resVersion = append(sn.resVersion, fmt.Sprintf("attestationkey/%s/%d", k.Name, k.Generation))
		if k.DeletionTimestamp == nil {
			sn.attest.state.Keys[k.Name] = &store.AttestationKey{Name: k.Name, AKPub: k.Spec.AKPub, Created: k.CreationTimestamp.UTC()}
		}
	}
	for _, p := range pols.Items {
		sn.resVersion = append(sn.resVersion, fmt.Sprintf("attestationpolicy/%s/%d", p.Name, p.Generation))
		if p.DeletionTimestamp == nil {
			sn.attest.state.Policies[p.Name] = &store.AttestationPolicy{Name: p.Name, PCRs: maps.Clone(p.Spec.PCRs), Created: p.CreationTimestamp.UTC()}
		}
	}
	return nil
}

// attestSnapshot is the attestation part of a snapshot: the state and the resources.
type attestSnapshot struct {
	state    store.Attestation
	keys     []sealv1.AttestationKey
	policies []sealv1.AttestationPolicy
}

// Reasons of the attestation resources' Ready condition.
const (
	reasonValid         = "Valid"
	reasonInvalidKey    = "InvalidKey"
	reasonInvalidPolicy = "InvalidPolicy"
)

// reconcileAttestation writes every AttestationKey's and AttestationPolicy's status: Ready, or
// why the ROT does not use it (a kubectl-made resource the admin API would have refused).
func (s *Store) reconcileAttestation(ctx context.Context, sn *snapshot) error {
	var errs []error
	for i := range sn.attest.keys {
		k := &sn.attest.keys[i]
		st := sealv1.AttestationKeyStatus{Conditions: slices.Clone(k.Status.Conditions)}
		if pub, err := attest.ParseAKPub(k.Spec.AKPub); err != nil {
			setReady(&st.Conditions, false, reasonInvalidKey, "akPub: "+err.Error(), k.Generation)
		} else {
			st.Fingerprint = attest.Fingerprint(pub)
			setReady(&st.Conditions, true, reasonValid, "registered: quotes signed by this key are accepted", k.Generation)
		}
		if !equality.Semantic.DeepEqual(k.Status, st) {
			patch := client.MergeFrom(k.DeepCopy())
			k.Status = st
			if err := s.c.Status().Patch(ctx, k, patch); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("kubestore: writing status of AttestationKey %q: %w", k.Name, err))
			}
		}
	}
	for i := range sn.attest.policies {
		p := &sn.attest.policies[i]
		st := sealv1.AttestationPolicyStatus{Conditions: slices.Clone(p.Status.Conditions)}
		if _, err := attest.ParsePolicy(p.Name, p.Spec.PCRs); err != nil {
			setReady(&st.Conditions, false, reasonInvalidPolicy, strings.TrimPrefix(err.Error(), "attest: ")+
				"; Workloads naming it are refused", p.Generation)
		} else {
			setReady(&st.Conditions, true, reasonValid, fmt.Sprintf("%d PCR values", len(p.Spec.PCRs)), p.Generation)
		}
		if !equality.Semantic.DeepEqual(p.Status, st) {
			patch := client.MergeFrom(p.DeepCopy())
			p.Status = st
			if err := s.c.Status().Patch(ctx, p, patch); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("kubestore: writing status of AttestationPolicy %q: %w", p.Name, err))
			}
		}
	}
	return errors.Join(errs...)
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
