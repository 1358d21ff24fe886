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
)

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
	// Policy and Authority name what approved the image.
	Policy, Authority string
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
