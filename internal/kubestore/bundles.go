package kubestore

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/seal-dev/seal/internal/rotapi"
	sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"
)

// storedBundle is a federated trust domain's last good bundle in Secret seal-rot-bundles.
type storedBundle struct {
	Bundle rotapi.FederatedBundle `json:"bundle"`
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
func effectiveBundle(f sealv1.FederatedTrustDomain, stored map[string]storedBundle) (*rotapi.FederatedBundle, error) {
	td, err := spiffeid.TrustDomainFromString(f.Spec.TrustDomain)
	if err != nil || td.Name() != f.Spec.TrustDomain {
		return nil, fmt.Errorf("trustDomain %q is not a trust domain name", f.Spec.TrustDomain)
	}
	b := &rotapi.FederatedBundle{TrustDomain: td.Name(), BundleEndpointURL: f.Spec.BundleEndpointURL}
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
	if seq, ok := sb.SequenceNumber(); ok && b.SequenceNumber == 0 {
		b.SequenceNumber = seq
	}
	return b, nil
}

// ftdStatus is the status f should carry for bundle b (or the reason err it has none).
func ftdStatus(f *sealv1.FederatedTrustDomain, b *rotapi.FederatedBundle, err error) sealv1.FederatedTrustDomainStatus {
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
