package verify_test

import (
	"context"
	"strings"
	"testing"

	"github.com/seal-dev/seal/internal/verify"
	"github.com/seal-dev/seal/internal/verify/verifytest"
	sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"
)

// Admission (RequireDigest) never admits a tag where a policy enforces, even a tag whose
// current digest is signed: the kubelet resolves the tag again at pull time (issue 13 item 1).
func TestRequireDigest(t *testing.T) {
	reg := verifytest.NewRegistry(t)
	key := verifytest.NewKey(t)
	d := reg.Push(t, "team/app", "v1")
	key.SignLegacy(t, d)
	byTag := d.Context().Tag("v1").String()
	for _, tt := range []struct {
		name       string
		mode       sealv1.PolicyMode
		noMatch    verify.NoMatchAction
		image      string
		require    bool
		wantAllow  bool
		wantWarn   bool
		wantReason verify.Reason
	}{
		{name: "enforce denies a tag", image: byTag, require: true, wantReason: verify.ReasonUnpinned},
		{name: "enforce admits the digest", image: d.String(), require: true, wantAllow: true, wantReason: verify.ReasonApproved},
		{name: "enforce admits tag@digest", image: byTag + "@" + d.DigestStr(), require: true, wantAllow: true, wantReason: verify.ReasonApproved},
		{name: "warn admits a tag with a warning", mode: sealv1.ModeWarn, image: byTag, require: true, wantAllow: true, wantWarn: true, wantReason: verify.ReasonUnpinned},
		{name: "no match, no-match deny", image: reg.Host + "/other/app:v1", require: true, wantReason: verify.ReasonUnpinned},
		{name: "no match, no-match warn", noMatch: verify.NoMatchWarn, image: reg.Host + "/other/app:v1", require: true, wantAllow: true, wantWarn: true, wantReason: verify.ReasonRegistry},
		{name: "no match, no-match allow", noMatch: verify.NoMatchAllow, image: reg.Host + "/other/app:v1", require: true, wantAllow: true, wantReason: verify.ReasonRegistry},
		{name: "CLI checks the tag's digest", image: byTag, wantAllow: true, wantReason: verify.ReasonApproved},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := &verify.StaticPolicies{Policies: []sealv1.ImagePolicy{keyPolicy("team", reg.Host+"/team/**", key.PublicPEM, tt.mode)}}
			v := newVerifier(t, src, func(o *verify.Options) { o.NoMatch = tt.noMatch })
			got := v.Verify(context.Background(), verify.Request{Image: tt.image, RequireDigest: tt.require})
			if got.Allowed != tt.wantAllow || got.Warning != tt.wantWarn || got.Reason != tt.wantReason {
				t.Fatalf("got allowed %v warn %v reason %s (%s), want allowed %v warn %v reason %s",
					got.Allowed, got.Warning, got.Reason, got.Message, tt.wantAllow, tt.wantWarn, tt.wantReason)
			}
			if tt.wantReason == verify.ReasonUnpinned && (!strings.Contains(got.Message, "must be an image digest") || !strings.Contains(got.Message, tt.image)) {
				t.Errorf("message %q does not say %s must be an image digest", got.Message, tt.image)
			}
		})
	}
	t.Run("enforces", func(t *testing.T) {
		v := newVerifier(t, &verify.StaticPolicies{Policies: []sealv1.ImagePolicy{
			keyPolicy("team", reg.Host+"/team/**", key.PublicPEM, ""), keyPolicy("trial", reg.Host+"/trial/**", key.PublicPEM, sealv1.ModeWarn)}},
			func(o *verify.Options) { o.NoMatch = verify.NoMatchAllow })
		for image, want := range map[string]bool{byTag: true, reg.Host + "/trial/x:1": false, reg.Host + "/other/x:1": false, "UPPER::x": true} {
			if got, why := v.Enforces(context.Background(), image, nil); got != want {
				t.Errorf("Enforces(%s) = %v (%s), want %v", image, got, why, want)
			}
		}
	})
}
