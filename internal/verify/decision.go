package verify

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
