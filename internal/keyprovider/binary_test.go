package keyprovider_test

import (
	"bytes"
	"compress/gzip"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containers/ocicrypt"
	"github.com/containers/ocicrypt/config"
	kpconfig "github.com/containers/ocicrypt/config/keyprovider-config"
	ocikp "github.com/containers/ocicrypt/keywrap/keyprovider"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/seal-dev/seal/internal/attest"
	"github.com/seal-dev/seal/internal/rot/rottest"
	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/sealimage"
	"github.com/seal-dev/seal/internal/testing/swtpm"
	"github.com/seal-dev/seal/internal/testing/testenv"
	"github.com/seal-dev/seal/internal/verify/verifytest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.CleanupBinaries()
	os.Exit(code)
}

// sealed is a real ROT, a swtpm enrolled as a node, and two images encrypted with sealctl's
// code: good for a workload whose PCR policy the TPM satisfies, refused for one whose policy
// it does not.
type sealed struct {
	sw            *swtpm.TPM
	r             *rottest.ROT
	caFile, bin   string
	plain         v1.Image
	good, refused v1.Image
}

func newSealed(t *testing.T) *sealed {
	sw := swtpm.Start(t)
	tp, err := attest.OpenTPM(sw.Spec())
	if err != nil {
		t.Fatal(err)
	}
	ak, _, err := attest.EnrollAK(tp, attest.DefaultAKHandle)
	if err != nil {
		t.Fatal(err)
	}
	pcrs, err := attest.ReadPCRs(tp, []int{0, 7})
	tp.Close() // the simulator serves one client at a time: the provider opens it next
	if err != nil {
		t.Fatal(err)
	}
	r := rottest.Start(t)
	do := func(method, path string, in, out any) {
		t.Helper()
		if err := r.Admin.Do(t.Context(), method, path, in, out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	do(http.MethodPost, rotapi.PathAttestationKeys, rotapi.AttestationKey{Name: "node-1", AKPub: ak}, nil)
	do(http.MethodPost, rotapi.PathAttestationPolicies, rotapi.AttestationPolicy{Name: "prod", PCRs: map[string]string{
		"0": hex.EncodeToString(pcrs[0]), "7": hex.EncodeToString(pcrs[7])}}, nil)
	do(http.MethodPost, rotapi.PathAttestationPolicies, rotapi.AttestationPolicy{Name: "other-boot", PCRs: map[string]string{
		"7": strings.Repeat("11", 32)}}, nil)
	r.CreateWorkload(t, rotapi.Workload{Name: "vault", Attest: "prod"})
	r.CreateWorkload(t, rotapi.Workload{Name: "strict", Attest: "other-boot"})

	reg := verifytest.NewRegistry(t)
	src := reg.Host + "/team/app:1"
	plain, err := random.Image(2048, 2)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, plain); err != nil {
		t.Fatal(err)
	}
	seal := func(workload string) v1.Image {
		t.Helper()
		var key rotapi.ImageKey
		do(http.MethodPost, rotapi.Path(rotapi.PathImageKeys, workload), rotapi.ImageKeyCreate{}, &key)
		egg := r.MintEgg(t, workload, rotapi.MintRequest{})
		enc, err := sealimage.NewEncrypter(key.ID, key.Key, egg)
		if err != nil {
			t.Fatal(err)
		}
		res, err := sealimage.Seal(t.Context(), src, reg.Host+"/team/"+workload, sealimage.Options{Egg: egg, Encrypt: enc})
		if err != nil {
			t.Fatal(err)
		}
		img, err := remote.Image(res.Digest)
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	good, refused := seal("vault"), seal("strict")

	caFile := filepath.Join(t.TempDir(), "rot-ca.pem")
	if err := os.WriteFile(caFile, r.CAPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return &sealed{sw: sw, r: r, caFile: caFile, bin: testenv.Binary(t, "./cmd/keyprovider"), plain: plain, good: good, refused: refused}
}

// layer returns layer i of img: its OCI descriptor (with the wrapped keys' annotations) and
// its encrypted bytes.
func layer(t *testing.T, img v1.Image, i int) (ocispec.Descriptor, []byte) {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	d := m.Layers[i]
	ls, _ := img.Layers()
	rc, err := ls[i].Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return ocispec.Descriptor{MediaType: string(d.MediaType), Digest: digest.Digest(d.Digest.String()), Size: d.Size, Annotations: d.Annotations}, b
}

// checkPlain checks that got is layer i of the plain image.
func (s *sealed) checkPlain(t *testing.T, i int, got []byte) {
	t.Helper()
	if _, err := gzip.NewReader(bytes.NewReader(got)); err != nil {
		t.Errorf("layer %d decrypted to something that is not gzip: %v", i, err)
	}
	pls, _ := s.plain.Layers()
	want, _ := pls[i].Digest()
	if h, _, _ := v1.SHA256(bytes.NewReader(got)); h != want {
		t.Errorf("layer %d decrypted to %s, want %s", i, h, want)
	}
}

// TestKeyProviderBinary drives the real seal-keyprovider as ocicrypt does (its keyprovider
// KeyWrapper running the command from a keyprovider configuration), against a real ROT and a
// swtpm: the layers of an image encrypted for a workload whose policy the TPM satisfies
// decrypt; those of a workload whose PCR policy it does not are refused with the ROT's reason.
func TestKeyProviderBinary(t *testing.T) {
	s := newSealed(t)
	r, sw, caFile, bin, good, refused := s.r, s.sw, s.caFile, s.bin, s.good, s.refused
	// ocicrypt's registry is global: give sealimage's wrapper back for the next test's sealing.
	prev := ocicrypt.GetKeyWrapper("provider.seal")
	t.Cleanup(func() { ocicrypt.RegisterKeyWrapper("provider.seal", prev) })
	ocicrypt.RegisterKeyWrapper("provider.seal", ocikp.NewKeyWrapper("seal", kpconfig.KeyProviderAttrs{Command: &kpconfig.Command{
		Path: bin, Args: []string{"--rot", r.URL, "--rot-ca", caFile, "--tpm", sw.Spec()},
	}}))

	// decrypt unpacks layer i of img as imgcrypt does: ocicrypt with an empty decrypt config
	// (the provider gets the key), and checks the result is the plain layer.
	decrypt := func(img v1.Image, i int) error {
		t.Helper()
		od, enc := layer(t, img, i)
		pr, _, err := ocicrypt.DecryptLayer(&config.DecryptConfig{}, bytes.NewReader(enc), od, false)
		if err != nil {
			return err
		}
		got, err := io.ReadAll(pr)
		if err != nil {
			return err
		}
		s.checkPlain(t, i, got)
		return nil
	}
	for i := 0; i < 2; i++ {
		if err := decrypt(good, i); err != nil {
			t.Fatalf("attested node, workload vault, layer %d: %v", i, err)
		}
	}
	err := decrypt(refused, 0)
	t.Logf("refusal as ocicrypt reports it: %v", err)
	if err == nil || !strings.Contains(err.Error(), "refused image key") || !strings.Contains(err.Error(), "PCR 7 mismatch") {
		t.Fatalf("PCR policy not satisfied: %v, want the provider's refusal naming PCR 7", err)
	}
}
