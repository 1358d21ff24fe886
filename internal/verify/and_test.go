package verify_test

import (
	"context"
	"strings"
	"testing"

	"github.com/seal-dev/seal/internal/verify"
	"github.com/seal-dev/seal/internal/verify/verifytest"
	sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"
)

// Policies layer like sigstore policy-controller's: an image is approved only when EVERY
// matching ImagePolicy approves it (issue 18 item 2); authorities within one policy are OR.
func TestEveryMatchingPolicyMustApprove(t *testing.T) {
	reg := verifytest.NewRegistry(t)
	team, security, other := verifytest.NewKey(t), verifytest.NewKey(t), verifytest.NewKey(t)
	teamOnly := reg.Push(t, "team/app", "v1")
	team.SignLegacy(t, teamOnly)
	both := reg.Push(t, "team/app", "v2")
	team.SignLegacy(t, both)
	security.SignBundle(t, both)

	teamPolicy := keyPolicy("team", reg.Host+"/team/**", team.PublicPEM, "")
	// Two authorities, OR within the policy: the security key or another one.
	securityPolicy := keyPolicy("security", reg.Host+"/**", other.PublicPEM, "")
	securityPolicy.Spec.Authorities = append(securityPolicy.Spec.Authorities, sealv1.Authority{Name: "security-key", Key: &sealv1.KeyRef{Data: security.PublicPEM}})
	warnSecurity := securityPolicy
	warnSecurity.Spec.Mode = sealv1.ModeWarn
	unrelated := keyPolicy("elsewhere", "registry.example.com/**", other.PublicPEM, "")

	for _, tt := range []struct {
		name       string
		policies   []sealv1.ImagePolicy
		image      string
		wantAllow  bool
		wantWarn   bool
		wantReason verify.Reason
		wantMsg    []string
		wantBy     []verify.Approval
	}{
		{name: "one of two policies fails", policies: []sealv1.ImagePolicy{teamPolicy, securityPolicy}, image: teamOnly.String(),
			wantReason: verify.ReasonUntrusted, wantMsg: []string{"ImagePolicy security", "every matching ImagePolicy must approve", "team did"},
			wantBy: []verify.Approval{{Policy: "team", Authority: "release-key"}}},
		{name: "both policies pass", policies: []sealv1.ImagePolicy{teamPolicy, securityPolicy}, image: both.String(),
			wantAllow: true, wantReason: verify.ReasonApproved,
			wantBy: []verify.Approval{{Policy: "team", Authority: "release-key"}, {Policy: "security", Authority: "security-key"}}},
		{name: "failing warn policy only warns", policies: []sealv1.ImagePolicy{teamPolicy, warnSecurity}, image: teamOnly.String(),
			wantAllow: true, wantWarn: true, wantReason: verify.ReasonUntrusted, wantMsg: []string{"ImagePolicy security"},
			wantBy: []verify.Approval{{Policy: "team", Authority: "release-key"}}},
		{name: "a policy that does not match does not count", policies: []sealv1.ImagePolicy{teamPolicy, unrelated}, image: teamOnly.String(),
			wantAllow: true, wantReason: verify.ReasonApproved, wantBy: []verify.Approval{{Policy: "team", Authority: "release-key"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v := newVerifier(t, &verify.StaticPolicies{Policies: tt.policies})
			for _, round := range []string{"fresh", "cached"} {
				got := v.Verify(context.Background(), verify.Request{Image: tt.image})
				if got.Allowed != tt.wantAllow || got.Warning != tt.wantWarn || got.Reason != tt.wantReason {
					t.Fatalf("%s: got allowed %v warn %v reason %s (%s), want allowed %v warn %v reason %s",
						round, got.Allowed, got.Warning, got.Reason, got.Message, tt.wantAllow, tt.wantWarn, tt.wantReason)
				}
				for _, want := range tt.wantMsg {
					if !strings.Contains(got.Message, want) {
						t.Errorf("%s: message %q does not contain %q", round, got.Message, want)
					}
				}
				if len(got.Approvals) != len(tt.wantBy) {
					t.Fatalf("%s: approvals %+v, want %+v", round, got.Approvals, tt.wantBy)
				}
				for i := range tt.wantBy {
					if got.Approvals[i] != tt.wantBy[i] {
						t.Errorf("%s: approval %d = %+v, want %+v", round, i, got.Approvals[i], tt.wantBy[i])
					}
				}
			}
		})
	}
}

// An ApprovedImage approves its exact digest whatever the policies say: it is the exception
// list, so layering a policy never takes away an image an admin pinned by digest.
func TestApprovedImageOverridesPolicies(t *testing.T) {
	reg := verifytest.NewRegistry(t)
	key := verifytest.NewKey(t)
	d := reg.Push(t, "team/vendor", "1")
	src := &verify.StaticPolicies{
		Policies: []sealv1.ImagePolicy{keyPolicy("a", reg.Host+"/**", key.PublicPEM, ""), keyPolicy("b", reg.Host+"/team/**", key.PublicPEM, "")},
		Approved: []sealv1.ApprovedImage{{Spec: sealv1.ApprovedImageSpec{Image: d.String()}}},
	}
	src.Approved[0].Name = "vendor-1"
	got := newVerifier(t, src).Verify(context.Background(), verify.Request{Image: d.String(), RequireDigest: true})
	if !got.Allowed || got.Warning || got.Reason != verify.ReasonApprovedImage {
		t.Fatalf("got %+v, want approved by the ApprovedImage", got)
	}
}
