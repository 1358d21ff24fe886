package ociimage

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	"sigs.k8s.io/yaml"

	"github.com/seal-dev/seal/internal/testing/testenv"
	"github.com/seal-dev/seal/internal/verify"
	"github.com/seal-dev/seal/internal/verify/verifytest"
	sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"
)

// TestReleaseVerifies publishes the seal-init image as `make images SIGN_KEY=cosign.key` does
// to a loopback registry, with a cosign key pair in cosign's own format, and checks what a user
// would: the real cosign CLI verifies the signature and the SPDX SBOM attestation, and Seal's
// own verification with the shipped sample policy (manifests/samples/seal-images.yaml) admits
// the release and refuses an unsigned copy of it.
func TestReleaseVerifies(t *testing.T) {
	if testing.Short() {
		t.Skip("builds seal-init for two platforms")
	}
	reg := verifytest.NewRegistry(t)
	root, _ := filepath.Abs("../..")
	ctx := context.Background()
	dir := t.TempDir()
	t.Setenv("COSIGN_PASSWORD", "release-password")
	keys, err := cosign.GenerateKeyPair(func(bool) ([]byte, error) { return []byte("release-password"), nil })
	if err != nil {
		t.Fatal(err)
	}
	keyFile, pubFile := filepath.Join(dir, "cosign.key"), filepath.Join(dir, "cosign.pub")
	if err := os.WriteFile(keyFile, keys.PrivateBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pubFile, keys.PublicBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	signer, err := LoadSigner(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSigner(pubFile); err == nil {
		t.Error("LoadSigner accepted a public key")
	}

	var initProgram []Program
	for _, p := range Programs {
		if p.Name == "seal-init" {
			initProgram = append(initProgram, p)
		}
	}
	release := Release{ModuleDir: root, Registry: reg.Host + "/seal", Tag: "v0.0.1-test",
		Source: "https://github.com/seal-dev/seal", Programs: initProgram, Signer: signer}
	signed, err := release.Push(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d, err := name.NewDigest(signed["seal-init"])
	if err != nil {
		t.Fatalf("pushed reference %q: %v", signed["seal-init"], err)
	}
	// The same index copied to another repository, without its signature.
	idx, err := remote.Index(d)
	if err != nil {
		t.Fatal(err)
	}
	unsignedRef := reg.Host + "/copies/seal-init@" + d.DigestStr()
	copyRef, _ := name.NewDigest(unsignedRef)
	if err := remote.WriteIndex(copyRef, idx); err != nil {
		t.Fatal(err)
	}

	t.Run("cosign CLI", func(t *testing.T) {
		cosignCLI := testenv.Cosign(t)
		out := runCosign(t, cosignCLI, "verify", "--key", pubFile, "--insecure-ignore-tlog", "--allow-http-registry", d.String())
		var sigs []struct {
			Critical struct {
				Image struct {
					Digest string `json:"docker-manifest-digest"`
				} `json:"image"`
			} `json:"critical"`
		}
		if err := json.Unmarshal(out, &sigs); err != nil || len(sigs) != 1 || sigs[0].Critical.Image.Digest != d.DigestStr() {
			t.Fatalf("cosign verify: got %s (%v), want one signature of %s", out, err, d.DigestStr())
		}
		out = runCosign(t, cosignCLI, "verify-attestation", "--key", pubFile, "--insecure-ignore-tlog", "--allow-http-registry", "--type", "spdxjson", d.String())
		checkSBOM(t, out)
		if out, err := exec.Command(cosignCLI, "verify", "--key", pubFile, "--insecure-ignore-tlog", "--allow-http-registry", unsignedRef).CombinedOutput(); err == nil {
			t.Errorf("cosign verify of the unsigned copy succeeded: %s", out)
		}
	})

	t.Run("sample policy", func(t *testing.T) {
		raw, err := os.ReadFile(filepath.Join(root, "manifests", "samples", "seal-images.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var pol sealv1.ImagePolicy
		if err := yaml.UnmarshalStrict(raw, &pol); err != nil {
			t.Fatalf("seal-images.yaml: %v", err)
		}
		pol.UID = "1"
		for i := range pol.Spec.Images {
			pol.Spec.Images[i].Glob = strings.Replace(pol.Spec.Images[i].Glob, "registry.example.com", reg.Host, 1)
		}
		pol.Spec.Authorities[0].Key.Data = string(keys.PublicBytes)
		copied := pol.DeepCopy()
		copied.Name, copied.UID = "copies", "2"
		copied.Spec.Images = []sealv1.ImagePattern{{Glob: reg.Host + "/copies/*"}}
		v, err := verify.New(verify.Options{Policies: &verify.StaticPolicies{Policies: []sealv1.ImagePolicy{pol, *copied}}})
		if err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name, image string
			allowed     bool
			reason      verify.Reason
		}{
			{"signed release by tag", reg.Host + "/seal/seal-init:v0.0.1-test", true, verify.ReasonApproved},
			{"signed release by digest", d.String(), true, verify.ReasonApproved},
			{"unsigned copy", unsignedRef, false, verify.ReasonNoSignature},
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
	})
}

// runCosign runs the cosign CLI and returns its standard output, failing t on a non-zero exit.
func runCosign(t *testing.T, cosignCLI string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(cosignCLI, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("cosign %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return out
}

// checkSBOM checks `cosign verify-attestation --type spdxjson` output: one verified in-toto
// statement whose predicate is an SPDX 2.3 document of seal-init at the release version, listing
// the standard library and modules by package URL.
func checkSBOM(t *testing.T, out []byte) {
	t.Helper()
	var env struct {
		Payload string `json:"payload"`
	}
	if err := json.Unmarshal([]byte(strings.SplitN(strings.TrimSpace(string(out)), "\n", 2)[0]), &env); err != nil {
		t.Fatalf("cosign verify-attestation output %q: %v", out, err)
	}
	payload, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		t.Fatal(err)
	}
	var stmt struct {
		PredicateType string `json:"predicateType"`
		Predicate     struct {
			SPDXVersion string `json:"spdxVersion"`
			Packages    []struct {
				Name         string `json:"name"`
				VersionInfo  string `json:"versionInfo"`
				ExternalRefs []struct {
					Locator string `json:"referenceLocator"`
				} `json:"externalRefs"`
			} `json:"packages"`
		} `json:"predicate"`
	}
	if err := json.Unmarshal(payload, &stmt); err != nil {
		t.Fatalf("attestation payload: %v", err)
	}
	if stmt.PredicateType != SPDXPredicateType || stmt.Predicate.SPDXVersion != "SPDX-2.3" {
		t.Fatalf("attestation: predicate %q version %q, want %q SPDX-2.3", stmt.PredicateType, stmt.Predicate.SPDXVersion, SPDXPredicateType)
	}
	got := map[string]string{}
	purls := 0
	for _, p := range stmt.Predicate.Packages {
		got[p.Name] = p.VersionInfo
		for _, r := range p.ExternalRefs {
			if strings.HasPrefix(r.Locator, "pkg:golang/") {
				purls++
			}
		}
	}
	if got["seal-init"] != "v0.0.1-test" || !strings.HasPrefix(got["stdlib"], "go1.") {
		t.Errorf("SBOM packages seal-init=%q stdlib=%q, want v0.0.1-test and go1.x", got["seal-init"], got["stdlib"])
	}
	if len(got) < 5 || purls != len(stmt.Predicate.Packages) {
		t.Errorf("SBOM lists %d packages, %d with a pkg:golang purl: want every linked module, each with its purl", len(got), purls)
	}
}
