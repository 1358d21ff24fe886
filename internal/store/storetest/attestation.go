package storetest

import (
	"context"
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/seal-dev/seal/internal/store"
)

// AttestationKey and AttestationPolicy are the sample attestation records the suite writes.
func AttestationKey() *store.AttestationKey {
	return &store.AttestationKey{Name: "node-1", Created: time.Unix(1e9, 0).UTC(), AKPub: "-----BEGIN PUBLIC KEY-----\n" +
		"MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEmW33xorJR5J/AjfrVOd48zhwRBji\n" +
		"3Z9xUuKtGpvjhOGaVu9zjWAIXZ8duUeoblTrfUkiwDUib1xAU6vdM127MA==\n-----END PUBLIC KEY-----\n"}
}

func AttestationPolicy() *store.AttestationPolicy {
	return &store.AttestationPolicy{Name: "prod", Created: time.Unix(1e9, 0).UTC(), PCRs: map[string]string{
		"0": "0000000000000000000000000000000000000000000000000000000000000000",
		"7": "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90",
	}}
}

// RunAttestation checks the attestation keys and policies and a workload's Attest field.
func RunAttestation(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	t.Run("attestation keys and policies", func(t *testing.T) {
		st := open(t)
		defer st.Close()
		must(t, st.PutAuthority(ctx, Authority()))
		w := Workload()
		w.Spec.Attest = "prod"
		must(t, st.PutWorkload(ctx, w))
		must(t, st.PutAttestationKey(ctx, AttestationKey()))
		must(t, st.PutAttestationPolicy(ctx, AttestationPolicy()))
		s, err := st.Load(ctx)
		must(t, err)
		if got := s.Workloads[w.Spec.Name]; got == nil || got.Spec.Attest != "prod" {
			t.Errorf("workload = %+v, want spec.attest prod", got)
		}
		k, wk := s.Attestation.Keys["node-1"], AttestationKey()
		if k == nil || k.AKPub != wk.AKPub || k.Name != wk.Name {
			t.Errorf("attestation key = %+v, want %+v", k, wk)
		}
		p, wp := s.Attestation.Policies["prod"], AttestationPolicy()
		if p == nil || !maps.Equal(p.PCRs, wp.PCRs) {
			t.Errorf("attestation policy = %+v, want %+v", p, wp)
		}
		// Replace the policy, then delete both.
		wp.PCRs = map[string]string{"7": wp.PCRs["7"]}
		must(t, st.PutAttestationPolicy(ctx, wp))
		s, err = st.Load(ctx)
		must(t, err)
		if p := s.Attestation.Policies["prod"]; p == nil || !maps.Equal(p.PCRs, wp.PCRs) {
			t.Errorf("replaced attestation policy = %+v, want PCRs %v", p, wp.PCRs)
		}
		must(t, st.DeleteAttestationKey(ctx, "node-1"))
		must(t, st.DeleteAttestationPolicy(ctx, "prod"))
		if err := st.DeleteAttestationKey(ctx, "node-1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("deleting a missing attestation key: %v, want store.ErrNotFound", err)
		}
		if err := st.DeleteAttestationPolicy(ctx, "prod"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("deleting a missing attestation policy: %v, want store.ErrNotFound", err)
		}
		s, err = st.Load(ctx)
		must(t, err)
		if len(s.Attestation.Keys) != 0 || len(s.Attestation.Policies) != 0 {
			t.Errorf("after delete: keys %v, policies %v; want none", s.Attestation.Keys, s.Attestation.Policies)
		}
	})
}
