package keyprovider_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/imgcrypt/v2"
	"github.com/containerd/typeurl/v2"
	"github.com/containers/ocicrypt"
	"github.com/containers/ocicrypt/config"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/seal-dev/seal/internal/keyprovider"
)

// payloadBytes is what containerd writes on a stream processor's fd 3 for desc.
func payloadBytes(t testing.TB, desc ocispec.Descriptor) []byte {
	t.Helper()
	a, err := typeurl.MarshalAny(&imgcrypt.Payload{Descriptor: desc})
	if err != nil {
		t.Fatal(err)
	}
	b, err := proto.Marshal(typeurl.MarshalProto(a))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// runDecode runs the seal-keyprovider binary as containerd's stream processor runs it: the
// layer on stdin, the payload on fd 3 (ExtraFiles[0]), the media type in the environment.
func runDecode(t *testing.T, bin string, args []string, desc ocispec.Descriptor, layer []byte) ([]byte, string, error) {
	t.Helper()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	go func() {
		_, _ = pw.Write(payloadBytes(t, desc))
		pw.Close()
	}()
	cmd := exec.CommandContext(t.Context(), bin, append([]string{"decode"}, args...)...)
	cmd.Env = append(os.Environ(), keyprovider.MediaTypeEnv+"="+desc.MediaType)
	cmd.Stdin = bytes.NewReader(layer)
	cmd.ExtraFiles = []*os.File{pr}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.Bytes(), errb.String(), err
}

// TestDecodeBinary drives "seal-keyprovider decode" as containerd drives its stream
// processors, against a real ROT and a swtpm: the payload carries the layer's descriptor and
// no keys (containerd's CRI, key_model "node"), so Seal's provider unwraps in-process. The
// attested workload's layers decrypt to the plain layers; the PCR-mismatch one is refused
// with exit 1 and the ROT's reason on stderr, which containerd reports as the pull's error.
func TestDecodeBinary(t *testing.T) {
	s := newSealed(t)
	args := []string{"--rot", s.r.URL, "--rot-ca", s.caFile, "--tpm", s.sw.Spec()}
	for i := 0; i < 2; i++ {
		desc, enc := layer(t, s.good, i)
		got, stderr, err := runDecode(t, s.bin, args, desc, enc)
		if err != nil {
			t.Fatalf("attested node, layer %d: %v (%s)", i, err, stderr)
		}
		s.checkPlain(t, i, got)
	}
	desc, enc := layer(t, s.refused, 0)
	got, stderr, err := runDecode(t, s.bin, args, desc, enc)
	t.Logf("refusal as containerd sees it: %s", stderr)
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != keyprovider.ExitFailed {
		t.Fatalf("PCR policy not satisfied: exit %v, want %d", err, keyprovider.ExitFailed)
	}
	if !strings.Contains(stderr, "refused image key") || !strings.Contains(stderr, "PCR 7 mismatch") {
		t.Errorf("stderr %q, want the provider's refusal naming PCR 7", stderr)
	}
	if len(got) != 0 {
		t.Errorf("refused layer: %d bytes on stdout, want none", len(got))
	}
}

func TestDecodeRefusals(t *testing.T) {
	desc := ocispec.Descriptor{MediaType: "application/vnd.oci.image.layer.v1.tar+gzip+encrypted", Digest: digest.Digest("sha256:" + strings.Repeat("ab", 32))}
	tests := []struct {
		name    string
		args    []string
		payload []byte // nil: no fd 3
		code    int
		want    string
	}{
		{"no fd 3", nil, nil, keyprovider.ExitFailed, "nothing on fd 3"},
		{"empty fd 3", nil, []byte{}, keyprovider.ExitFailed, "fd 3 is empty"},
		{"not protobuf", nil, []byte{0xff, 0xff, 0xff}, keyprovider.ExitFailed, "not a protobuf Any"},
		{"no wrapped keys", nil, payloadBytes(t, desc), keyprovider.ExitFailed, "layer sha256:abab"},
		{"an argument", []string{"extra"}, payloadBytes(t, desc), keyprovider.ExitUsage, "no arguments"},
		{"--rot without --rot-ca", []string{"--rot", "https://rot.example:8443"}, payloadBytes(t, desc), keyprovider.ExitUsage, "--rot and --rot-ca are required"},
		{"bad --ak-handle", []string{"--rot", "https://r", "--rot-ca", "ca.pem", "--ak-handle", "0x1234"}, payloadBytes(t, desc), keyprovider.ExitUsage, `--ak-handle "0x1234"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var payload *bytes.Reader
			if tt.payload != nil {
				payload = bytes.NewReader(tt.payload)
			}
			var stdout, stderr bytes.Buffer
			var code int
			if payload == nil {
				code = keyprovider.Decode(context.Background(), tt.args, strings.NewReader("x"), &stdout, &stderr, func(string) string { return "" }, nil)
			} else {
				code = keyprovider.Decode(context.Background(), tt.args, strings.NewReader("x"), &stdout, &stderr, func(string) string { return "" }, payload)
			}
			if code != tt.code || !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("exit %d, stderr %q; want exit %d naming %q", code, stderr.String(), tt.code, tt.want)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout %q, want nothing written", stdout.String())
			}
		})
	}
}

func TestParsePayloadRefusals(t *testing.T) {
	wrongType, _ := proto.Marshal(&anypb.Any{TypeUrl: "io.containerd.other.v1.Thing", Value: []byte("{}")})
	badJSON, _ := proto.Marshal(&anypb.Any{TypeUrl: imgcrypt.PayloadURI, Value: []byte("{not json")})
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "fd 3 is empty"},
		{"not protobuf", []byte{0x0a, 0xff}, "not a protobuf Any"},
		{"another type", wrongType, `type "io.containerd.other.v1.Thing"`},
		{"not JSON", badJSON, "bad stream processor payload"},
		{"too large", bytes.Repeat([]byte{0}, 1<<20+1), "over 1048576 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := keyprovider.ParsePayload(bytes.NewReader(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err %v, want one naming %q", err, tt.want)
			}
		})
	}
	desc := ocispec.Descriptor{MediaType: "application/vnd.oci.image.layer.v1.tar+encrypted", Digest: digest.Digest("sha256:" + strings.Repeat("cd", 32)),
		Annotations: map[string]string{keyprovider.AnnotationID: "e30="}}
	p, err := keyprovider.ParsePayload(bytes.NewReader(payloadBytes(t, desc)))
	if err != nil {
		t.Fatal(err)
	}
	if p.Descriptor.Digest != desc.Digest || p.Descriptor.Annotations[keyprovider.AnnotationID] != "e30=" {
		t.Errorf("got descriptor %+v, want %+v", p.Descriptor, desc)
	}
}

func FuzzParsePayload(f *testing.F) {
	f.Add(payloadBytes(f, ocispec.Descriptor{MediaType: "application/vnd.oci.image.layer.v1.tar+gzip+encrypted",
		Digest: digest.Digest("sha256:" + strings.Repeat("ab", 32)), Annotations: map[string]string{keyprovider.AnnotationID: "e30="}}))
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x00})
	b, _ := proto.Marshal(&anypb.Any{TypeUrl: imgcrypt.PayloadURI, Value: []byte(`{"Descriptor":{"digest":7}}`)})
	f.Add(b)
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := keyprovider.ParsePayload(bytes.NewReader(in))
		if (p == nil) == (err == nil) {
			t.Fatalf("payload %v and error %v: want exactly one", p, err)
		}
	})
}

// TestDecodeKeysPath: as with ctd-decoder, --decryption-keys-path adds private keys for
// ocicrypt's other schemes, here a JWE layer and its RSA key in a file; without the directory
// the same layer is refused naming the missing key.
func TestDecodeKeysPath(t *testing.T) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	cc, err := config.EncryptWithJwe([][]byte{pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})})
	if err != nil {
		t.Fatal(err)
	}
	plain := bytes.Repeat([]byte("a plain layer "), 1000)
	desc := ocispec.Descriptor{MediaType: "application/vnd.oci.image.layer.v1.tar", Digest: digest.FromBytes(plain), Size: int64(len(plain))}
	r, fin, err := ocicrypt.EncryptLayer(cc.EncryptConfig, bytes.NewReader(plain), desc)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if desc.Annotations, err = fin(); err != nil {
		t.Fatal(err)
	}
	desc.MediaType += "+encrypted"
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "node.pem"), pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(priv)}), 0o600); err != nil {
		t.Fatal(err)
	}
	decode := func(args ...string) (int, []byte, string) {
		var stdout, stderr bytes.Buffer
		code := keyprovider.Decode(t.Context(), args, bytes.NewReader(enc), &stdout, &stderr, func(string) string { return "" }, bytes.NewReader(payloadBytes(t, desc)))
		return code, stdout.Bytes(), stderr.String()
	}
	code, got, stderr := decode("--decryption-keys-path", dir)
	if code != keyprovider.ExitOK || !bytes.Equal(got, plain) {
		t.Fatalf("with the key: exit %d, %d bytes (stderr %q), want exit 0 and the %d plain bytes", code, len(got), stderr, len(plain))
	}
	code, _, stderr = decode("--decryption-keys-path", filepath.Join(dir, "none"))
	if code != keyprovider.ExitFailed || !strings.Contains(stderr, "missing private key") {
		t.Errorf("without the key: exit %d, stderr %q, want exit 1 naming the missing private key", code, stderr)
	}
}
