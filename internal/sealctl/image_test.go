package sealctl

import (
	"archive/tar"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/cosign/v2/pkg/cosign"

	"github.com/seal-dev/seal/internal/rot/rottest"
	"github.com/seal-dev/seal/internal/testing/testenv"
	"github.com/seal-dev/seal/internal/verify"
	"github.com/seal-dev/seal/internal/verify/verifytest"
)

// pushImage pushes a random image running as user to ref.
func pushImage(t *testing.T, ref, user string) v1.Image {
	t.Helper()
	img, err := random.Image(512, 2)
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	cf.Config.User = user
	cf.OS, cf.Architecture = "linux", "amd64"
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(mustRef(t, ref), img); err != nil {
		t.Fatal(err)
	}
	return img
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// cosignKeys writes a cosign key pair (as cosign generate-key-pair does) and returns the paths.
func cosignKeys(t *testing.T, password string) (priv, pub string) {
	t.Helper()
	kb, err := cosign.GenerateKeyPair(func(bool) ([]byte, error) { return []byte(password), nil })
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	priv, pub = filepath.Join(dir, "cosign.key"), filepath.Join(dir, "cosign.pub")
	if err := os.WriteFile(priv, kb.PrivateBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pub, kb.PublicBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	return priv, pub
}

// eggFile returns the header and content of the file at p in the image's last layer.
func eggFile(t *testing.T, img v1.Image, p string) (*tar.Header, string) {
	t.Helper()
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	rc, err := ls[len(ls)-1].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("no %s in the last layer: %v", p, err)
		}
		if "/"+h.Name == p {
			b, _ := io.ReadAll(tr)
			return h, string(b)
		}
	}
}

func TestImageSeal(t *testing.T) {
	r := rottest.Start(t)
	env := envFor(r)
	reg := verifytest.NewRegistry(t)
	ok(t, env, "", "workload", "create", "payments", "--peer", "api")
	src := reg.Host + "/team/app:1.0"
	pushImage(t, src, "1000:2000")
	priv, pub := cosignKeys(t, "s3cret")
	t.Setenv(EnvCosignPassword, "s3cret")

	res := ok(t, env, "", "image", "seal", src, reg.Host+"/team/app-sealed", "--workload", "payments", "--peer", "api", "--sign-key", priv)
	digest := strings.TrimSpace(res.stdout)
	d, err := name.NewDigest(digest)
	if err != nil || d.Context().String() != reg.Host+"/team/app-sealed" {
		t.Fatalf("stdout %q, want %s/team/app-sealed@sha256:... (%v)", res.stdout, reg.Host, err)
	}
	img, err := remote.Image(d)
	if err != nil {
		t.Fatal(err)
	}
	h, egg := eggFile(t, img, "/etc/seal/egg")
	if h.Mode != 0o400 || h.Uid != 1000 || h.Gid != 2000 || h.Typeflag != tar.TypeReg {
		t.Errorf("egg file mode %o uid %d gid %d type %c, want 0400 1000 2000 regular", h.Mode, h.Uid, h.Gid, h.Typeflag)
	}
	if _, err := redeem(t, r, strings.TrimSpace(egg)); err != nil {
		t.Errorf("the Egg in the image does not redeem: %v", err)
	}
	cf, _ := img.ConfigFile()
	if n := len(cf.RootFS.DiffIDs); n != 3 {
		t.Errorf("sealed image has %d layers, want 3 (2 + the Egg)", n)
	}

	// Seal's own image policy admits the digest, with either signature format alone.
	pubPEM, _ := os.ReadFile(pub)
	policy := filepath.Join(t.TempDir(), "policy.yaml")
	_ = os.WriteFile(policy, []byte(`apiVersion: seal.dev/v1alpha1
kind: ImagePolicy
metadata: {name: team}
spec:
  images: [{glob: "`+reg.Host+`/team/**"}]
  authorities:
  - name: ci
    key:
      data: |
        `+strings.ReplaceAll(strings.TrimSpace(string(pubPEM)), "\n", "\n        ")+`
`), 0o600)
	admitted := func(what string) {
		t.Helper()
		dec, err := verify.CheckFile(context.Background(), digest, policy)
		if err != nil || !dec.Allowed {
			t.Errorf("%s: Seal's verify: allowed %v %s %s (%v), want admitted", what, dec.Allowed, dec.Reason, dec.Message, err)
		}
	}
	admitted("both signatures")

	// cosign runs the real cosign CLI verify, offline (no TUF; an empty trusted root: a key
	// needs no CA, log or TSA). With bundles beside the image it checks them; without, the
	// classic signature.
	home := t.TempDir()
	trustedRoot := filepath.Join(home, "trusted_root.json")
	_ = os.WriteFile(trustedRoot, []byte(`{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}`), 0o600)
	cosignVerify := func(t *testing.T, what string) {
		t.Helper()
		cos := testenv.Cosign(t)
		args := []string{"verify", "--key", pub, "--insecure-ignore-tlog", "--allow-insecure-registry", "--allow-http-registry", "--trusted-root", trustedRoot, digest}
		cmd := exec.Command(cos, args...)
		cmd.Env = append(os.Environ(), "HOME="+home, "TUF_ROOT="+filepath.Join(home, "tuf"))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: cosign %s: %v\n%s", what, strings.Join(args, " "), err, out)
		}
	}
	t.Run("cosign verify (bundle)", func(t *testing.T) { cosignVerify(t, "bundle") })

	// The bundle alone (classic signature tag deleted) still admits.
	sigTag := d.Context().Tag(strings.Replace(d.DigestStr(), ":", "-", 1) + ".sig")
	sigImg, err := remote.Image(sigTag)
	if err != nil {
		t.Fatalf("reading %s: %v", sigTag, err)
	}
	if err := remote.Delete(sigTag); err != nil {
		t.Fatalf("deleting %s: %v", sigTag, err)
	}
	admitted("bundle only")

	// The classic signature alone (bundle referrers deleted, the tag put back) admits, and
	// the cosign CLI verifies it.
	refs, err := remote.Referrers(d)
	if err != nil {
		t.Fatal(err)
	}
	rm, _ := refs.IndexManifest()
	if len(rm.Manifests) != 1 {
		t.Fatalf("%d referrers, want 1 bundle", len(rm.Manifests))
	}
	if err := remote.Delete(d.Context().Digest(rm.Manifests[0].Digest.String())); err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(sigTag, sigImg); err != nil {
		t.Fatal(err)
	}
	admitted("classic signature only")
	t.Run("cosign verify (classic signature)", func(t *testing.T) { cosignVerify(t, "classic") })

	// With neither, Seal refuses: the checks above saw what they claim.
	if err := remote.Delete(sigTag); err != nil {
		t.Fatal(err)
	}
	if dec, err := verify.CheckFile(context.Background(), digest, policy); err != nil || dec.Allowed {
		t.Errorf("unsigned: allowed %v (%v), want refused", dec.Allowed, err)
	}
}

func TestImageSealIndexPerPlatform(t *testing.T) {
	r := rottest.Start(t)
	env := envFor(r)
	reg := verifytest.NewRegistry(t)
	ok(t, env, "", "workload", "create", "payments")
	idx, err := random.Index(256, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	im, _ := idx.IndexManifest()
	plats := []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64", Variant: "v8"}}
	var out = mutate.IndexMediaType(idx, im.MediaType)
	out = mutate.RemoveManifests(out, func(v1.Descriptor) bool { return true })
	for i, m := range im.Manifests {
		img, _ := idx.Image(m.Digest)
		cf, _ := img.ConfigFile()
		cf.Config.User = "65532"
		img, _ = mutate.ConfigFile(img, cf)
		out = mutate.AppendManifests(out, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &plats[i]}})
	}
	att, _ := random.Image(64, 1)
	out = mutate.AppendManifests(out, mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "unknown", Architecture: "unknown"}}})
	src := reg.Host + "/team/multi:1.0"
	if err := remote.WriteIndex(mustRef(t, src), out); err != nil {
		t.Fatal(err)
	}

	res := ok(t, env, "", "image", "seal", src, reg.Host+"/team/multi-sealed:1.0", "--workload", "payments", "-o", "json")
	var got imageSealResult
	if err := json.Unmarshal([]byte(res.stdout), &got); err != nil {
		t.Fatalf("-o json: %v in %q", err, res.stdout)
	}
	if strings.Join(got.Platforms, ",") != "linux/amd64,linux/arm64/v8" || got.EggID == "" || got.Signed {
		t.Errorf("result %+v, want platforms linux/amd64,linux/arm64/v8, an Egg id, unsigned", got)
	}
	sealed, err := remote.Index(mustRef(t, got.Digest))
	if err != nil {
		t.Fatal(err)
	}
	tagged, _ := remote.Head(mustRef(t, reg.Host+"/team/multi-sealed:1.0"))
	if tagged == nil || got.Digest != reg.Host+"/team/multi-sealed@"+tagged.Digest.String() {
		t.Errorf("tag 1.0 is %v, want the sealed index %s", tagged, got.Digest)
	}
	sm, _ := sealed.IndexManifest()
	if len(sm.Manifests) != 2 {
		t.Fatalf("sealed index has %d manifests, want 2 (the attestation manifest dropped)", len(sm.Manifests))
	}
	for _, m := range sm.Manifests {
		img, _ := sealed.Image(m.Digest)
		h, egg := eggFile(t, img, "/etc/seal/egg")
		if h.Mode != 0o400 || h.Uid != 65532 || h.Gid != 0 || egg == "" {
			t.Errorf("%s: egg mode %o uid %d gid %d (%d bytes), want 0400 65532 0", m.Platform, h.Mode, h.Uid, h.Gid, len(egg))
		}
	}
}

func TestImageSealRefusals(t *testing.T) {
	r := rottest.Start(t)
	env := envFor(r)
	reg := verifytest.NewRegistry(t)
	ok(t, env, "", "workload", "create", "payments")
	pushImage(t, reg.Host+"/team/named:1", "app")
	refused(t, env, `image user is not numeric: "app"`, "image", "seal", reg.Host+"/team/named:1", reg.Host+"/team/out", "--workload", "payments")
	refused(t, env, `unused: sealctl egg revoke`, "image", "seal", reg.Host+"/team/named:1", reg.Host+"/team/out", "--workload", "payments")
	ok(t, env, "", "image", "seal", reg.Host+"/team/named:1", reg.Host+"/team/out", "--workload", "payments", "--owner", "10:10")
	refused(t, env, `has a digest`, "image", "seal", reg.Host+"/team/named:1", reg.Host+"/team/out@sha256:"+strings.Repeat("a", 64), "--workload", "payments")
	refused(t, env, `workload "nope"`, "image", "seal", reg.Host+"/team/named:1", reg.Host+"/team/out", "--workload", "nope")
	if res := run(t, env, "", "image", "seal", "a", "b"); res.code != ExitUsage || !strings.Contains(res.stderr, "--workload") {
		t.Errorf("without --workload: exit %d %q, want usage error naming --workload", res.code, res.stderr)
	}
}

func TestImageSealEncrypt(t *testing.T) {
	r := rottest.Start(t)
	env := envFor(r)
	reg := verifytest.NewRegistry(t)
	ok(t, env, "", "attestation", "policy", "set", "prod", "--pcr", "7="+strings.Repeat("ab", 32))
	ok(t, env, "", "workload", "create", "vault", "--attest", "prod")
	ok(t, env, "", "workload", "create", "plain")
	src := reg.Host + "/team/app:1.0"
	pushImage(t, src, "1000")

	// A workload without attestation policy: refused before an Egg is minted.
	refused(t, env, `workload "plain" has no attestation policy`, "image", "seal", src, reg.Host+"/team/plain", "--workload", "plain", "--encrypt")
	if res := ok(t, env, "", "egg", "list", "plain", "-o", "json"); strings.TrimSpace(res.stdout) != "[]" {
		t.Errorf("an Egg was minted for a refused seal: %s", res.stdout)
	}

	res := ok(t, env, "", "image", "seal", src, reg.Host+"/team/vault", "--workload", "vault", "--encrypt", "-o", "json")
	var got imageSealResult
	if err := json.Unmarshal([]byte(res.stdout), &got); err != nil || !got.Encrypted || len(got.ImageKey) != 32 {
		t.Fatalf("-o json: %q (%v), want encrypted with an image key id", res.stdout, err)
	}
	img, err := remote.Image(mustRef(t, got.Digest))
	if err != nil {
		t.Fatal(err)
	}
	m, _ := img.Manifest()
	if len(m.Layers) != 3 {
		t.Fatalf("%d layers, want 3", len(m.Layers))
	}
	for i, l := range m.Layers[:2] {
		if !strings.HasSuffix(string(l.MediaType), "+encrypted") || l.Annotations["org.opencontainers.image.enc.keys.provider.seal"] == "" {
			t.Errorf("layer %d: %s %v, want +encrypted with the seal provider's wrapped key", i, l.MediaType, l.Annotations)
		}
	}
	h, egg := eggFile(t, img, "/etc/seal/egg")
	if h.Mode != 0o400 || h.Uid != 1000 || strings.TrimSpace(egg) == "" {
		t.Errorf("Egg layer: mode %o uid %d, want a clear 0400 file of uid 1000", h.Mode, h.Uid)
	}
}
