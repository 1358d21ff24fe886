package verify

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	"github.com/sigstore/cosign/v2/pkg/oci"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"
	"github.com/sigstore/cosign/v2/pkg/types"
	sgbundle "github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"
)

// artifacts are the signatures stored beside one image digest, fetched once and checked against
// every candidate authority.
type artifacts struct {
	digest  name.Digest
	hash    v1.Hash
	legacy  []oci.Signature    // from the `sha256-<hex>.sig` tag
	bundles []*sgbundle.Bundle // sigstore bundles stored as OCI referrers
}

func (a *artifacts) empty() bool { return len(a.legacy) == 0 && len(a.bundles) == 0 }

// fetchArtifacts reads the legacy signature tag and the referrers of d.
func (v *Verifier) fetchArtifacts(ctx context.Context, d name.Digest, opts []ociremote.Option) (*artifacts, error) {
	h, err := v1.NewHash(d.DigestStr())
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadReference, err)
	}
	a := &artifacts{digest: d, hash: h}

	done := v.metrics.registryTimer("signatures")
	st, err := ociremote.SignatureTag(d, opts...)
	if err == nil {
		var sigs oci.Signatures
		if sigs, err = ociremote.Signatures(st, opts...); err == nil {
			a.legacy, err = sigs.Get()
		}
	}
	done()
	if err != nil {
		return nil, fmt.Errorf("reading signature tag: %w", err)
	}

	done = v.metrics.registryTimer("referrers")
	bundles, _, err := cosign.GetBundles(ctx, d, &cosign.CheckOpts{RegistryClientOpts: opts})
	done()
	var none *cosign.ErrNoMatchingAttestations
	switch {
	case errors.As(err, &none):
	case err != nil:
		return nil, fmt.Errorf("reading referrers: %w", err)
	default:
		a.bundles = bundles
	}
	return a, nil
}

// verifyAuthority reports whether one signature in a is by the authority. key is the verifier
// for key authorities (inline or read from a Secret).
func verifyAuthority(ctx context.Context, a *artifacts, auth *authority, key signature.Verifier) error {
	var errs []error
	for _, sig := range a.legacy {
		co := checkOpts(auth, key)
		if _, err := cosign.VerifyImageSignature(ctx, sig, a.hash, co); err != nil {
			errs = append(errs, err)
			continue
		}
		return nil
	}
	for _, b := range a.bundles {
		if err := verifyBundle(ctx, a.hash, b, auth, key); err != nil {
			errs = append(errs, err)
			continue
		}
		return nil
	}
	return errors.Join(errs...)
}

func checkOpts(auth *authority, key signature.Verifier) *cosign.CheckOpts {
	co := &cosign.CheckOpts{
		ClaimVerifier: cosign.SimpleClaimVerifier,
		IgnoreTlog:    true,
		IgnoreSCT:     true,
		Offline:       true,
	}
	if key != nil {
		co.SigVerifier = key
		return co
	}
	kl := auth.keyless
	co.RootCerts, co.IntermediateCerts = kl.roots, kl.intermediates
	co.Identities = kl.identities
	if kl.rekor != nil {
		co.IgnoreTlog, co.RekorPubKeys = false, kl.rekor
	}
	if kl.ctlog != nil {
		co.IgnoreSCT, co.CTLogPubKeys = false, kl.ctlog
	}
	return co
}

// verifyBundle checks a sigstore bundle: a DSSE in-toto statement of the cosign "sign"
// predicate whose subject is the image digest, signed by the authority.
func verifyBundle(ctx context.Context, h v1.Hash, b *sgbundle.Bundle, auth *authority, key signature.Verifier) error {
	digest, err := hex.DecodeString(h.Hex)
	if err != nil {
		return err
	}
	policy := sgverify.WithArtifactDigest(h.Algorithm, digest)
	co := &cosign.CheckOpts{IgnoreTlog: true, IgnoreSCT: true, TrustedMaterial: &root.TrustedRoot{}}
	if key != nil {
		co.SigVerifier = key
		return checkBundle(ctx, co, policy, b)
	}
	kl := auth.keyless
	co.TrustedMaterial = kl.trusted
	co.IgnoreTlog = kl.rekor == nil
	co.IgnoreSCT = kl.ctlog == nil
	// cosign's bundle verifier takes one identity at a time.
	var errs []error
	for _, id := range kl.identities {
		co.Identities = []cosign.Identity{id}
		if err := checkBundle(ctx, co, policy, b); err != nil {
			errs = append(errs, err)
			continue
		}
		return nil
	}
	return errors.Join(errs...)
}

func checkBundle(ctx context.Context, co *cosign.CheckOpts, policy sgverify.ArtifactPolicyOption, b *sgbundle.Bundle) error {
	res, err := cosign.VerifyNewBundle(ctx, co, policy, b)
	if err != nil {
		return err
	}
	if res.Statement == nil || res.Statement.PredicateType != types.CosignSignPredicateType {
		got := "none"
		if res.Statement != nil {
			got = res.Statement.PredicateType
		}
		return fmt.Errorf("bundle is an attestation of %s, not a cosign signature (%s)", got, types.CosignSignPredicateType)
	}
	return nil
}

// shortErr keeps the first line of a (possibly huge, joined) verification error.
func shortErr(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " (and more)"
	}
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
