package rot

import (
	"fmt"
	"slices"
	"time"

	"filippo.io/age"

	"github.com/seal-dev/seal/internal/ca"
	"github.com/seal-dev/seal/internal/custody"
	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/store"
)

// The store keeps records of its own (store.WorkloadSpec, store.Egg, store.Bundle), so a
// change to the admin API's types does not change the state on disk or in Secrets. This file
// converts between the two at the ROT's edge.

// RecordSpec is the store's record of an admin API workload spec: its user-settable fields.
// The read-only fields (caFingerprint, dataKeyIndex, created) are not taken from the request.
func RecordSpec(w *rotapi.Workload) store.WorkloadSpec {
	return store.WorkloadSpec{
		Name:          w.Name,
		Peers:         slices.Clone(w.Peers),
		CertTTL:       w.CertTTL,
		FederatesWith: slices.Clone(w.FederatesWith),
		RouteHosts:    slices.Clone(w.RouteHosts),
		Bindings:      recordBindings(w.Bindings),
		Attest:        w.Attest,
	}
}

// apiWorkload is the admin API's picture of a workload record whose current Workload CA has
// fingerprint caFingerprint.
func apiWorkload(rec *store.Workload, caFingerprint string) rotapi.Workload {
	s := rec.Spec
	w := rotapi.Workload{
		Name: s.Name, Peers: s.Peers, CertTTL: s.CertTTL, FederatesWith: s.FederatesWith,
		RouteHosts: s.RouteHosts, Created: s.Created, CAFingerprint: caFingerprint, Bindings: apiBindings(s.Bindings),
		Attest: s.Attest,
	}
	for _, k := range rec.DataKeys {
		w.DataKeyIndex = max(w.DataKeyIndex, k.Index) // the highest index is current
	}
	return w
}

func apiEgg(e *store.Egg) rotapi.EggInfo {
	return rotapi.EggInfo{ID: e.ID, Workload: e.Workload, Peer: e.Peer, NotAfter: e.NotAfter, Hostnames: e.Hostnames, Revoked: e.Revoked}
}

func apiBundle(b *store.Bundle) rotapi.FederatedBundle {
	return rotapi.FederatedBundle{
		TrustDomain: b.TrustDomain, BundleEndpointURL: b.BundleEndpointURL, EndpointProfile: b.EndpointProfile,
		EndpointSPIFFEID: b.EndpointSPIFFEID, Bundle: b.Bundle, SequenceNumber: b.SequenceNumber,
		LastRefreshed: b.LastRefreshed, LastError: b.LastError,
	}
}

// recordBundle is the record of an imported bundle; the last refresh and error are the ROT's
// to set, not the request's.
func recordBundle(b *rotapi.FederatedBundle) store.Bundle {
	return store.Bundle{
		TrustDomain: b.TrustDomain, BundleEndpointURL: b.BundleEndpointURL, EndpointProfile: b.EndpointProfile,
		EndpointSPIFFEID: b.EndpointSPIFFEID, Bundle: b.Bundle, SequenceNumber: b.SequenceNumber,
	}
}

// NewWorkloadRecord creates a workload's record: a Workload CA for spec.Name issued by the ROT
// CA root of trust domain trustDomain and valid for caTTL, and data key 0. Created is now
// (opts.Now). The Incarnation stays empty: the ROT gives the workload one when it mints its
// first Egg, the same path as for records written before incarnations existed.
//
// It is the one place that rule lives: the admin API (sealctl workload create) and the --kube
// store (Workloads made with kubectl) both call it.
func NewWorkloadRecord(root *ca.CA, trustDomain string, spec store.WorkloadSpec, caTTL time.Duration, opts ca.Options) (*store.Workload, error) {
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	wca, err := root.NewIntermediate(trustDomain, spec.Name, caTTL, opts)
	if err != nil {
		return nil, err
	}
	kp, err := keyPair(wca, opts)
	if err != nil {
		return nil, err
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, fmt.Errorf("rot: generating data key: %w", err)
	}
	sealed, err := opts.Seal(custody.DataKeyName(spec.Name, 0), []byte(id.String()))
	if err != nil {
		return nil, err
	}
	spec.Created = now().UTC()
	return &store.Workload{
		Spec:     spec,
		CAs:      []store.KeyPair{kp},
		DataKeys: []store.DataKey{{Index: 0, Identity: sealed, Created: spec.Created}},
	}, nil
}
