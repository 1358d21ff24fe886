package ociimage

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/seal-dev/seal/internal/verify"
	"github.com/seal-dev/seal/internal/verify/verifytest"
	sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"
)

// TestReleaseVerifies publishes the seal-init image as `make images` does to a loopback
// registry, signs it with the cosign library as a release pipeline would, and checks that
// Seal's own image verification admits it, so clusters that enforce image policy can run Seal.
// The same image pushed under another name without a signature is refused.
func TestReleaseVerifies(t *testing.T) {
	if testing.Short() {
		t.Skip("builds seal-init for two platforms")
	}
	reg := verifytest.NewRegistry(t)
	root, _ := filepath.Abs("../..")
	ctx := context.Background()
	var initProgram []Program
	for _, p := range Programs {
		if p.Name == "seal-init" {
			initProgram = append(initProgram, p)
		}
	}
	release := Release{ModuleDir: root, Tag: "v0.0.1-test", Source: "https://github.com/seal-dev/seal", Programs: initProgram}
	release.Registry = reg.Host + "/seal"
	signed, err := release.Push(ctx)
	if err != nil {
		t.Fatal(err)
	}
	release.Registry = reg.Host + "/unsigned"
	unsigned, err := release.Push(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d, err := name.NewDigest(signed["seal-init"])
	if err != nil {
		t.Fatalf("pushed reference %q: %v", signed["seal-init"], err)
	}
	key := verifytest.NewKey(t)
	key.SignLegacy(t, d)

	v, err := verify.New(verify.Options{Policies: &verify.StaticPolicies{Policies: []sealv1.ImagePolicy{{
		ObjectMeta: metav1.ObjectMeta{Name: "seal-release", UID: "1"},
		Spec: sealv1.ImagePolicySpec{
			Images:      []sealv1.ImagePattern{{Glob: reg.Host + "/**"}},
			Authorities: []sealv1.Authority{{Name: "release-key", Key: &sealv1.KeyRef{Data: key.PublicPEM}}},
			Mode:        sealv1.ModeEnforce,
		},
	}}}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, image string
		allowed     bool
		reason      verify.Reason
	}{
		{"signed release by tag", reg.Host + "/seal/seal-init:v0.0.1-test", true, verify.ReasonApproved},
		{"signed release by digest", signed["seal-init"], true, verify.ReasonApproved},
		{"unsigned copy", unsigned["seal-init"], false, verify.ReasonNoSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := v.Verify(ctx, verify.Request{Image: tt.image})
			if got.Allowed != tt.allowed || got.Reason != tt.reason {
				t.Fatalf("Verify(%s): got allowed=%v reason=%s (%s), want allowed=%v reason=%s", tt.image, got.Allowed, got.Reason, got.Message, tt.allowed, tt.reason)
			}
			if tt.allowed && !strings.HasSuffix(got.Digest, d.DigestStr()) {
				t.Errorf("approved digest %s, want the pushed index %s", got.Digest, d.DigestStr())
			}
		})
	}
}
