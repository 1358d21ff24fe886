package verify_test

import (
	"testing"

	"github.com/seal-dev/seal/internal/verify"
)

// Metric labels and report properties carry reasons in snake_case, as Prometheus conventions
// want; the CamelCase Reason stays the API.
func TestReasonLabel(t *testing.T) {
	for _, tt := range []struct {
		r    verify.Reason
		want string
	}{
		{verify.ReasonApproved, "approved"},
		{verify.ReasonApprovedImage, "approved_image"},
		{verify.ReasonNoMatch, "no_matching_policy"},
		{verify.ReasonNoSignature, "no_signature"},
		{verify.ReasonUntrusted, "untrusted_signature"},
		{verify.ReasonRegistry, "registry_unreachable"},
		{verify.ReasonBadReference, "bad_reference"},
		{verify.ReasonPolicyError, "policy_error"},
		{verify.ReasonUnpinned, "unpinned_tag"},
	} {
		if got := tt.r.Label(); got != tt.want {
			t.Errorf("%s.Label() = %q, want %q", tt.r, got, tt.want)
		}
	}
}

// The decision is attributed to the first failing policy when denied or warned about, else to
// the approver.
func TestDecidingPolicy(t *testing.T) {
	for _, tt := range []struct {
		name string
		d    verify.Decision
		want string
	}{
		{"denied", verify.Decision{Allowed: false, Policy: "ok-one", Failed: []string{"strict", "soft"}}, "strict"},
		{"warned", verify.Decision{Allowed: true, Warning: true, Policy: "ok-one", Failed: []string{"soft"}}, "soft"},
		{"approved", verify.Decision{Allowed: true, Policy: "ok-one"}, "ok-one"},
		{"no match", verify.Decision{Allowed: false}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.d.DecidingPolicy(); got != tt.want {
				t.Errorf("DecidingPolicy() = %q, want %q", got, tt.want)
			}
		})
	}
}
