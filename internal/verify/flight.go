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

// sigResult is the outcome of checking one image's signatures against a list of policies:
// per policy (by position), the authority that verified, or why none did.
type sigResult struct {
	approved []string // authority name, "" when the policy did not approve
	whys     []string // for ReasonUntrusted: why each authority of the policy failed
	reason   Reason   // why the policies that did not approve failed
	common   string   // the failure every policy shares (registry, timeout)
	digest   string
	count    int // signatures found
}

// message explains why the failed policies did not approve the image. todo is the list the
// result was computed for; approvals are the policies that did approve.
func (r sigResult) message(todo, failed []*policy, approvals []Approval) string {
	var msg string
	switch r.reason {
	case ReasonNoSignature:
		msg = fmt.Sprintf("no signature found for %s (neither a cosign .sig tag nor a sigstore bundle referrer); sign it with an authority of ImagePolicy %s", r.digest, policyNames(failed))
	case ReasonUntrusted:
		var parts []string
		for _, f := range failed {
			for i, p := range todo {
				if p == f {
					parts = append(parts, fmt.Sprintf("%s has %d signature(s) but none by a trusted key or identity of ImagePolicy %s (%s)", r.digest, r.count, p.name, r.whys[i]))
				}
			}
		}
		msg = strings.Join(parts, "; ")
	default:
		msg = r.common
	}
	if len(approvals) > 0 {
		names := make([]string, len(approvals))
		for i, a := range approvals {
			names[i] = a.Policy
		}
		msg += " (every matching ImagePolicy must approve an image; " + strings.Join(names, ", ") + " did)"
	}
	return msg
}

// verifySignatures fetches the image's signatures once (coalescing concurrent callers with the
// same credentials) and checks them against every authority of each policy, caching successes.
func (v *Verifier) verifySignatures(ctx context.Context, digest name.Digest, todo []*policy, kc authn.Keychain, kcID string) sigResult {
	var key strings.Builder
	key.WriteString(digest.String())
	// The credentials are part of the key: a caller whose pull secrets cannot read the registry
	// must not hand its failure to a caller whose can (and a shared success would have read the
	// registry with someone else's credentials).
	if kcID == "" && kc != nil {
		kcID = "unshared-" + strconv.FormatUint(v.unshared.Add(1), 10)
	}
	key.WriteString("|keychain=" + kcID)
	for _, p := range todo {
		key.WriteString("|" + p.uid + "/" + p.name + "/" + strconv.FormatInt(p.generation, 10))
	}
	ch := v.flight.DoChan(key.String(), func() (any, error) {
		// The work is shared: it must not die with the first caller's request.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), v.opts.RegistryTimeout)
		defer cancel()
		return v.checkPolicies(fctx, digest, todo, kc), nil
	})
	select {
	case r := <-ch:
		return r.Val.(sigResult)
	case <-ctx.Done():
		return sigResult{approved: make([]string, len(todo)), reason: ReasonRegistry, digest: digest.String(),
			common: "verification of " + digest.String() + " did not finish in time: " + ctx.Err().Error()}
	}
}

func (v *Verifier) checkPolicies(ctx context.Context, digest name.Digest, todo []*policy, kc authn.Keychain) (res sigResult) {
	res = sigResult{approved: make([]string, len(todo)), whys: make([]string, len(todo)), digest: digest.String()}
	defer func() {
		if r := recover(); r != nil { // a library bug on hostile registry data must not kill the webhook
			v.log.Error("verify: panic while verifying", "image", digest.String(), "panic", r)
			res = sigResult{approved: make([]string, len(todo)), reason: ReasonRegistry, digest: digest.String(),
				common: fmt.Sprintf("verifying %s failed: internal error on registry data", digest)}
		}
	}()
	opts := []ociremote.Option{ociremote.WithRemoteOptions(v.registryOptions(ctx, kc)...)}
	arts, err := v.fetchArtifacts(ctx, digest, opts)
	if err != nil {
		res.reason = ReasonRegistry
		res.common = fmt.Sprintf("registry unreachable or invalid while reading signatures of %s: %s", digest, registryErr(ctx, err))
		return res
	}
	if arts.empty() {
		res.reason = ReasonNoSignature
		return res
	}
	res.reason = ReasonUntrusted
	res.count = len(arts.legacy) + len(arts.bundles)
	for i, p := range todo {
		var whys []string
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
			res.approved[i] = a.name
			break
		}
		if res.approved[i] == "" {
			res.whys[i] = strings.Join(whys, "; ")
		}
	}
	return res
}

func policyNames(ps []*policy) string {
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.name
	}
	return strings.Join(names, ", ")
}
