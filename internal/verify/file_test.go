package verify_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seal-dev/seal/internal/verify"
	"github.com/seal-dev/seal/internal/verify/verifytest"
)

func indent(s string) string { return strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n        ") }

func TestCheckFile(t *testing.T) {
	reg := verifytest.NewRegistry(t)
	key := verifytest.NewKey(t)
	signed := reg.Push(t, "team/app", "v1")
	key.SignBundle(t, signed)
	unsigned := reg.Push(t, "team/app", "v2")
	approved := reg.Push(t, "team/tool", "v1")
	policy := `# team policy
apiVersion: seal.dev/v1alpha1
kind: ImagePolicy
metadata: {name: team}
spec:
  images: [{glob: "` + reg.Host + `/team/**"}]
  authorities:
  - name: release-key
    key:
      data: |
        ` + indent(key.PublicPEM) + `
---
apiVersion: seal.dev/v1alpha1
kind: ApprovedImage
metadata: {name: tool-v1}
spec: {image: "` + approved.String() + `"}
`
	file := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(file, []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, image string
		want        bool
		wantReason  verify.Reason
	}{
		{"signed by tag", signed.Context().Tag("v1").String(), true, verify.ReasonApproved},
		{"unsigned", unsigned.String(), false, verify.ReasonNoSignature},
		{"approved image", approved.String(), true, verify.ReasonApprovedImage},
		{"elsewhere", "registry.example.org/app@" + signed.DigestStr(), false, verify.ReasonNoMatch},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, err := verify.CheckFile(context.Background(), tt.image, file)
			if err != nil {
				t.Fatal(err)
			}
			if d.Allowed != tt.want || d.Reason != tt.wantReason {
				t.Fatalf("CheckFile(%s) = allowed %v reason %s (%s), want %v %s", tt.image, d.Allowed, d.Reason, d.Message, tt.want, tt.wantReason)
			}
		})
	}
}

func TestReadPoliciesErrors(t *testing.T) {
	for _, tt := range []struct{ name, doc, want string }{
		{"wrong kind", "apiVersion: seal.dev/v1alpha1\nkind: Workload\nmetadata: {name: w}\n", `kind "Workload"`},
		{"wrong group", "apiVersion: v1\nkind: ImagePolicy\n", "apiVersion"},
		{"unknown field", "apiVersion: seal.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {name: p}\nspec: {imagez: []}\n", "imagez"},
		{"bad pem", "apiVersion: seal.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {name: p}\nspec:\n  images: [{glob: \"**\"}]\n  authorities: [{name: k, key: {data: nope}}]\n", "not a PEM public key"},
		{"approved without digest", "apiVersion: seal.dev/v1alpha1\nkind: ApprovedImage\nmetadata: {name: a}\nspec: {image: nginx:1.25}\n", "@sha256"},
		{"not yaml", "{]", "document 1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := verify.ReadPolicies(strings.NewReader(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ReadPolicies error = %v, want one containing %q", err, tt.want)
			}
		})
	}
	if _, err := verify.CheckFile(context.Background(), "nginx", filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Fatal("CheckFile on a missing file succeeded")
	}
}
