package kubestore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seal-dev/seal/internal/ca"
	"github.com/seal-dev/seal/internal/store"
	sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"
)

// storedBundle is a federated trust domain's last good bundle in Secret seal-rot-bundles.
type storedBundle struct {
	Bundle store.Bundle `json:"bundle"`
	// SpecBundleSHA256 is the hash of the resource's spec.trustDomainBundle when this was
	// stored: once a user changes spec.trustDomainBundle, the spec's bundle wins again.
	SpecBundleSHA256 string `json:"specBundleSHA256"`
}

func specHash(f *sealv1.FederatedTrustDomain) string {
	h := sha256.Sum256([]byte(f.Spec.TrustDomainBundle))
	return hex.EncodeToString(h[:])
}

// effectiveBundle is the bundle the ROT serves for f: the stored (refreshed or imported) one,
// or spec.trustDomainBundle before the first refresh. It is nil, with the reason, when f has
// no usable bundle; such a trust domain is left out of the loaded state.
func effectiveBundle(f sealv1.FederatedTrustDomain, stored map[string]storedBundle) (*store.Bundle, error) {
	td, err := spiffeid.TrustDomainFromString(f.Spec.TrustDomain)
	if err != nil || td.Name() != f.Spec.TrustDomain {
		return nil, fmt.Errorf("trustDomain %q is not a trust domain name", f.Spec.TrustDomain)
	}
	b := &store.Bundle{TrustDomain: td.Name(), BundleEndpointURL: f.Spec.BundleEndpointURL}
	if p := f.Spec.BundleEndpointProfile; p != nil {
		b.EndpointProfile, b.EndpointSPIFFEID = p.Type, p.EndpointSPIFFEID
	}
	if sb, ok := stored[td.Name()]; ok && sb.SpecBundleSHA256 == specHash(&f) && sb.Bundle.Bundle != "" {
		b.Bundle, b.SequenceNumber, b.LastRefreshed, b.LastError = sb.Bundle.Bundle, sb.Bundle.SequenceNumber, sb.Bundle.LastRefreshed, sb.Bundle.LastError
	} else {
		b.Bundle = f.Spec.TrustDomainBundle
	}
	if b.Bundle == "" {
		return nil, errors.New("no bundle yet: set spec.trustDomainBundle to the trust domain's SPIFFE bundle document (sealctl bundle export on its ROT)")
	}
	sb, err := spiffebundle.Parse(td, []byte(b.Bundle))
	if err != nil {
		return nil, fmt.Errorf("the bundle is not a SPIFFE bundle document: %v", err)
	}
	if len(sb.X509Authorities()) == 0 {
		return nil, errors.New("the bundle has no X.509 authorities")
	}
	// As the ROT does for imports and refreshes: a pasted bundle of another domain is refused.
	if err := ca.CheckTrustDomain(td, sb.X509Authorities()); err != nil {
		return nil, err
	}
	if seq, ok := sb.SequenceNumber(); ok && b.SequenceNumber == 0 {
		b.SequenceNumber = seq
	}
	return b, nil
}

// ftdStatus is the status f should carry for bundle b (or the reason err it has none).
func ftdStatus(f *sealv1.FederatedTrustDomain, b *store.Bundle, err error) sealv1.FederatedTrustDomainStatus {
	st := *f.Status.DeepCopy()
	if err != nil {
		setReady(&st.Conditions, false, "NoBundle", err.Error(), f.Generation)
		return st
	}
	st.LastError = b.LastError
	st.LastRefreshed = nil
	if b.LastRefreshed != nil {
		t := metav1.NewTime(b.LastRefreshed.UTC().Truncate(time.Second))
		st.LastRefreshed = &t
	}
	seq := b.SequenceNumber
	st.SequenceNumber = &seq
	if b.LastError != "" {
		setReady(&st.Conditions, false, "RefreshFailed", fmt.Sprintf("refreshing from %s failed: %s; the last good bundle (sequence %d) stays in use", b.BundleEndpointURL, b.LastError, seq), f.Generation)
	} else {
		setReady(&st.Conditions, true, "BundleLoaded", fmt.Sprintf("pods federating with %s receive its bundle (sequence %d)", b.TrustDomain, seq), f.Generation)
	}
	return st
}

// ftdName is the resource name for a trust domain imported through the admin API.
func ftdName(td string) string {
	n := strings.Trim(strings.ReplaceAll(td, "_", "-"), "-.")
	if n == "" {
		return "trust-domain"
	}
	return n
}

// PutBundle stores a federated trust domain's bundle: it creates the FederatedTrustDomain
// resource when there is none (sealctl bundle import), keeps the bundle in Secret
// seal-rot-bundles and writes the resource's status (Ready, lastRefreshed, sequenceNumber,
// lastError).
func (s *Store) PutBundle(ctx context.Context, b *store.Bundle) error {
	if !isSecretKey(b.TrustDomain) {
		return fmt.Errorf("kubestore: invalid trust domain %q", b.TrustDomain)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := s.ftdFor(ctx, b)
	if err != nil {
		return err
	}
	v, err := json.Marshal(storedBundle{Bundle: *b, SpecBundleSHA256: specHash(f)})
	if err != nil {
		return fmt.Errorf("kubestore: encoding bundle: %w", err)
	}
	if err := s.putKey(ctx, BundlesSecret, "bundles", b.TrustDomain, v); err != nil {
		return err
	}
	eb, berr := effectiveBundle(*f, map[string]storedBundle{b.TrustDomain: {Bundle: *b, SpecBundleSHA256: specHash(f)}})
	return s.writeFTDStatus(ctx, f, ftdStatus(f, eb, berr))
}

// ftdFor returns the FederatedTrustDomain of b's trust domain, creating it (spec from b) when
// there is none, and bringing its endpoint in line with b (an import names a new endpoint).
func (s *Store) ftdFor(ctx context.Context, b *store.Bundle) (*sealv1.FederatedTrustDomain, error) {
	var list sealv1.FederatedTrustDomainList
	if err := s.c.List(ctx, &list); err != nil {
		return nil, fmt.Errorf("kubestore: listing FederatedTrustDomains: %w", err)
	}
	var profile *sealv1.BundleEndpointProfile
	if b.EndpointProfile != "" {
		profile = &sealv1.BundleEndpointProfile{Type: b.EndpointProfile, EndpointSPIFFEID: b.EndpointSPIFFEID}
	}
	for i := range list.Items {
		f := &list.Items[i]
		if f.Spec.TrustDomain != b.TrustDomain || f.DeletionTimestamp != nil {
			continue
		}
		if f.Spec.BundleEndpointURL != b.BundleEndpointURL || !equality.Semantic.DeepEqual(f.Spec.BundleEndpointProfile, profile) {
			patch := client.MergeFromWithOptions(f.DeepCopy(), client.MergeFromWithOptimisticLock{})
			f.Spec.BundleEndpointURL, f.Spec.BundleEndpointProfile = b.BundleEndpointURL, profile
			if err := s.c.Patch(ctx, f, patch); err != nil {
				return nil, conflict(err, "updating FederatedTrustDomain "+f.Name)
			}
		}
		return f, nil
	}
	f := &sealv1.FederatedTrustDomain{
		ObjectMeta: metav1.ObjectMeta{Name: ftdName(b.TrustDomain)},
		Spec: sealv1.FederatedTrustDomainSpec{
			TrustDomain: b.TrustDomain, BundleEndpointURL: b.BundleEndpointURL,
			BundleEndpointProfile: profile, TrustDomainBundle: b.Bundle,
		},
	}
	if err := s.c.Create(ctx, f); err != nil {
		return nil, conflict(err, "creating FederatedTrustDomain "+f.Name)
	}
	return f, nil
}

func (s *Store) writeFTDStatus(ctx context.Context, f *sealv1.FederatedTrustDomain, st sealv1.FederatedTrustDomainStatus) error {
	if equality.Semantic.DeepEqual(f.Status, st) {
		return nil
	}
	patch := client.MergeFrom(f.DeepCopy())
	f.Status = st
	if err := s.c.Status().Patch(ctx, f, patch); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("kubestore: writing status of FederatedTrustDomain %q: %w", f.Name, err)
	}
	return nil
}
