package verify

import (
	"strings"
	"unicode"

	sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"
)

// Reason says why a Decision was made; it is the `result` label of the verification metric.
type Reason string

const (
	ReasonApproved      Reason = "Approved"           // a signature by a policy authority verified
	ReasonApprovedImage Reason = "ApprovedImage"      // an ApprovedImage names the digest
	ReasonNoMatch       Reason = "NoMatchingPolicy"   // no ImagePolicy applies to the image
	ReasonNoSignature   Reason = "NoSignature"        // the image carries no signature at all
	ReasonUntrusted     Reason = "UntrustedSignature" // signatures exist, none by a trusted authority
	ReasonRegistry      Reason = "RegistryUnreachable"
	ReasonBadReference  Reason = "BadReference"
	ReasonPolicyError   Reason = "PolicyError"
	// ReasonUnpinned: an admitted image names a tag, not a digest, where a policy enforces
	// (Request.RequireDigest). The kubelet would resolve the tag again at pull time, so what
	// was verified need not be what runs.
	ReasonUnpinned Reason = "UnpinnedTag"
)

// Approval is one ImagePolicy's approval of an image: the authority whose signature verified.
type Approval struct {
	Policy, Authority string
}

// Decision is the verdict on one image.
type Decision struct {
	// Image as requested.
	Image string
	// Digest is the resolved `repo@sha256:…`, when it could be resolved.
	Digest string
	// Allowed is true when the image may run (possibly with a Warning).
	Allowed bool
	// Warning is set when the image is admitted only because the policy is in warn mode.
	Warning bool
	Reason  Reason
	// Policy and Authority name what approved the image: the ApprovedImage (Policy), or the
	// first of Approvals.
	Policy, Authority string
	// Approvals lists, for each matching ImagePolicy that approved the image, the authority
	// whose signature verified. An image is approved only when every matching policy approves.
	Approvals []Approval
	// Message explains the decision to a person.
	Message string
	// Cached is true when a cached verification approved the image.
	Cached bool
	// Mode is how the matching ImagePolicies treat an unapproved image: ModeEnforce when one of
	// them enforces, ModeWarn when all are in warn mode, "" when none matches (the no-match
	// action applies) or an ApprovedImage decided.
	Mode sealv1.PolicyMode
	// Failed names the matching ImagePolicies that did not approve the image, enforce-mode ones
	// first.
	Failed []string
}

// DecidingPolicy is the ImagePolicy (or ApprovedImage) a decision is attributed to: the first
// that failed when the image is denied or warned about, else the one that approved it; "" when
// none matched.
func (d Decision) DecidingPolicy() string {
	if len(d.Failed) > 0 && (!d.Allowed || d.Warning) {
		return d.Failed[0]
	}
	return d.Policy
}

// Label is the reason in snake_case, as in metric labels and policy reports
// (NoMatchingPolicy → no_matching_policy).
func (r Reason) Label() string {
	var b strings.Builder
	for i, c := range string(r) {
		if unicode.IsUpper(c) {
			if i > 0 {
				b.WriteByte('_')
			}
			c = unicode.ToLower(c)
		}
		b.WriteRune(c)
	}
	return b.String()
}

func (d Decision) allow(r Reason, msg string) Decision {
	d.Allowed, d.Reason, d.Message = true, r, msg
	return d
}

func (d Decision) warn(r Reason, msg string) Decision {
	d.Allowed, d.Warning, d.Reason, d.Message = true, true, r, msg
	return d
}

func (d Decision) deny(r Reason, msg string) Decision {
	d.Allowed, d.Reason, d.Message = false, r, msg
	return d
}
