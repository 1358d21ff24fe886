package sealctl

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seal-dev/seal/internal/verify/verifytest"
)

// TestVerify runs `sealctl verify` against a real registry on loopback holding images signed
// in the test with the cosign library: CI's offline check gives the webhook's decision.
func TestVerify(t *testing.T) {
	reg := verifytest.NewRegistry(t)
	key := verifytest.NewKey(t)
	signed := reg.Push(t, "team/app", "v1")
	key.SignBundle(t, signed)
	reg.Push(t, "team/unsigned", "v1")
	other := verifytest.NewKey(t)
	foreign := reg.Push(t, "team/foreign", "v1")
	other.SignLegacy(t, foreign)

	policy := filepath.Join(t.TempDir(), "policy.yaml")
	doc := `apiVersion: seal.dev/v1alpha1
kind: ImagePolicy
metadata: {name: team}
spec:
  images: [{glob: "` + reg.Host + `/team/**"}]
  authorities:
  - name: release
    key:
      data: |
` + indent(key.PublicPEM, "        ") + `
  mode: enforce
`
	if err := os.WriteFile(policy, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"signed image approved", []string{"verify", reg.Host + "/team/app:v1", "--policy", policy},
			ExitOK, "team/release", ""},
		{"unsigned image denied", []string{"verify", reg.Host + "/team/unsigned:v1", "--policy", policy},
			ExitFailed, "false", "image not approved"},
		{"signature by another key denied", []string{"verify", reg.Host + "/team/foreign:v1", "--policy", policy},
			ExitFailed, "false", "image not approved"},
		{"no matching policy denied", []string{"verify", reg.Host + "/elsewhere/app:v1", "--policy", policy},
			ExitFailed, "false", "image not approved"},
		{"missing --policy", []string{"verify", reg.Host + "/team/app:v1"},
			ExitUsage, "", "--policy FILE"},
		{"unreadable policy file", []string{"verify", reg.Host + "/team/app:v1", "--policy", filepath.Join(t.TempDir(), "none.yaml")},
			ExitUsage, "", "none.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := Run(context.Background(), tt.args, strings.NewReader(""), &stdout, &stderr)
			if code != tt.wantCode {
				t.Fatalf("exit code: got %d, want %d\nstdout: %s\nstderr: %s", code, tt.wantCode, stdout.String(), stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.wantStdout) {
				t.Errorf("stdout: got %q, want it to contain %q", stdout.String(), tt.wantStdout)
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr: got %q, want it to contain %q", stderr.String(), tt.wantStderr)
			}
		})
	}

	t.Run("json names the digest", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		if code := Run(context.Background(), []string{"verify", reg.Host + "/team/app:v1", "--policy", policy, "-o", "json"}, strings.NewReader(""), &stdout, &stderr); code != ExitOK {
			t.Fatalf("exit code %d: %s", code, stderr.String())
		}
		var d struct {
			Digest  string
			Allowed bool
		}
		if err := json.Unmarshal(stdout.Bytes(), &d); err != nil {
			t.Fatalf("stdout is not JSON: %v\n%s", err, stdout.String())
		}
		if !d.Allowed || !strings.HasSuffix(d.Digest, signed.DigestStr()) {
			t.Errorf("got %+v, want allowed with digest %s", d, signed.DigestStr())
		}
	})
}

// TestVerifyEveryPolicy: `sealctl verify` decides as the webhook does when policies are
// layered: every matching ImagePolicy must approve the image (issue 18 item 2).
func TestVerifyEveryPolicy(t *testing.T) {
	reg := verifytest.NewRegistry(t)
	team, security := verifytest.NewKey(t), verifytest.NewKey(t)
	teamOnly := reg.Push(t, "team/app", "v1")
	team.SignLegacy(t, teamOnly)
	both := reg.Push(t, "team/app", "v2")
	team.SignLegacy(t, both)
	security.SignBundle(t, both)
	doc := func(name, glob, pem string) string {
		return `apiVersion: seal.dev/v1alpha1
kind: ImagePolicy
metadata: {name: ` + name + `}
spec:
  images: [{glob: "` + glob + `"}]
  authorities:
  - name: ` + name + `-key
    key:
      data: |
` + indent(pem, "        ") + `
`
	}
	policy := filepath.Join(t.TempDir(), "policies.yaml")
	if err := os.WriteFile(policy, []byte(doc("team", reg.Host+"/team/**", team.PublicPEM)+"---\n"+doc("security", reg.Host+"/**", security.PublicPEM)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name       string
		image      string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"signed for one of two policies", reg.Host + "/team/app:v1", ExitFailed, "false", "ImagePolicy security"},
		{"signed for both", reg.Host + "/team/app:v2", ExitOK, "team/team-key,security/security-key", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := Run(context.Background(), []string{"verify", tt.image, "--policy", policy}, strings.NewReader(""), &stdout, &stderr)
			if code != tt.wantCode || !strings.Contains(stdout.String(), tt.wantStdout) || !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Fatalf("exit %d (want %d)\nstdout: %s (want %q)\nstderr: %s (want %q)", code, tt.wantCode, stdout.String(), tt.wantStdout, stderr.String(), tt.wantStderr)
			}
		})
	}
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i := range lines {
		lines[i] = prefix + lines[i]
	}
	return strings.Join(lines, "\n")
}
