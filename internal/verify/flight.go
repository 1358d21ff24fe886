package verify

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"
)

type sigResult struct {
	policy    *policy // non-nil when approved
	authority string
	reason    Reason
	message   string
}

// verifySignatures fetches the image's signatures once (coalescing concurrent callers) and
// checks them against every authority of the matching policies, caching successes.
func (v *Verifier) verifySignatures(ctx context.Context, digest name.Digest, matching []*policy, kc authn.Keychain) sigResult {
	var key strings.Builder
	key.WriteString(digest.String())
	for _, p := range matching {
		key.WriteString("|" + p.uid + "/" + p.name + "/" + strconv.FormatInt(p.generation, 10))
	}
	ch := v.flight.DoChan(key.String(), func() (any, error) {
		// The work is shared: it must not die with the first caller's request.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), v.opts.RegistryTimeout)
		defer cancel()
		return v.checkPolicies(fctx, digest, matching, kc), nil
	})
	select {
	case r := <-ch:
		return r.Val.(sigResult)
	case <-ctx.Done():
		return sigResult{reason: ReasonRegistry, message: "verification of " + digest.String() + " did not finish in time: " + ctx.Err().Error()}
	}
}

func (v *Verifier) checkPolicies(ctx context.Context, digest name.Digest, matching []*policy, kc authn.Keychain) (res sigResult) {
	defer func() {
		if r := recover(); r != nil { // a library bug on hostile registry data must not kill the webhook
			v.log.Error("verify: panic while verifying", "image", digest.String(), "panic", r)
			res = sigResult{reason: ReasonRegistry, message: fmt.Sprintf("verifying %s failed: internal error on registry data", digest)}
		}
	}()
	opts := []ociremote.Option{ociremote.WithRemoteOptions(v.registryOptions(ctx, kc)...)}
	arts, err := v.fetchArtifacts(ctx, digest, opts)
	if err != nil {
		return sigResult{reason: ReasonRegistry, message: fmt.Sprintf("registry unreachable or invalid while reading signatures of %s: %s", digest, registryErr(ctx, err))}
	}
	if arts.empty() {
		return sigResult{reason: ReasonNoSignature, message: fmt.Sprintf("no signature found for %s (neither a cosign .sig tag nor a sigstore bundle referrer); sign it with an authority of ImagePolicy %s", digest, policyNames(matching))}
	}
	var whys []string
	for _, p := range matching {
		for _, a := range p.authorities {
			id, k, err := v.authorityKey(ctx, a)
			if err != nil {
				whys = append(whys, err.Error())
				continue
			}
			if err := verifyAuthority(ctx, arts, a, k); err != nil {
				whys = append(whys, fmt.Sprintf("%s/%s: %s", p.name, a.name, shortErr(err)))
				continue
			}
			v.cache.add(cacheKey(digest.String(), p, id))
			return sigResult{policy: p, authority: a.name}
		}
	}
	return sigResult{reason: ReasonUntrusted, message: fmt.Sprintf("%s has %d signature(s) but none by a trusted key or identity of ImagePolicy %s (%s)",
		digest, len(arts.legacy)+len(arts.bundles), policyNames(matching), strings.Join(whys, "; "))}
}

func policyNames(ps []*policy) string {
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.name
	}
	return strings.Join(names, ", ")
}
