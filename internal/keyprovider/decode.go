package keyprovider

import (
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/containerd/imgcrypt/v2"
	"github.com/containerd/typeurl/v2"
	"github.com/containers/ocicrypt"
	"github.com/containers/ocicrypt/config"
	"github.com/containers/ocicrypt/utils"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// MediaTypeEnv is the variable in which containerd passes a stream processor the media type
// of the layer on its stdin.
const MediaTypeEnv = "STREAM_PROCESSOR_MEDIATYPE"

// ErrPayload is a stream-processor payload this decoder does not understand.
var ErrPayload = errors.New("keyprovider: bad stream processor payload")

// maxPayload bounds the payload read from fd 3 (a descriptor and a decrypt config: a few KiB).
const maxPayload = 1 << 20

// ParsePayload reads the payload containerd writes on a stream processor's fd 3: a protobuf
// Any (typeurl.MarshalProto) whose type is imgcrypt's io.containerd.ocicrypt.v1.Payload.
func ParsePayload(r io.Reader) (*imgcrypt.Payload, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxPayload+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading fd 3: %v", ErrPayload, err)
	}
	if len(b) > maxPayload {
		return nil, fmt.Errorf("%w: over %d bytes", ErrPayload, maxPayload)
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: fd 3 is empty (containerd passes the layer's descriptor there)", ErrPayload)
	}
	var a anypb.Any
	if err := proto.Unmarshal(b, &a); err != nil {
		return nil, fmt.Errorf("%w: not a protobuf Any: %v", ErrPayload, err)
	}
	if a.TypeUrl != imgcrypt.PayloadURI {
		return nil, fmt.Errorf("%w: type %q, want %s", ErrPayload, clip(a.TypeUrl), imgcrypt.PayloadURI)
	}
	var p imgcrypt.Payload
	if err := typeurl.UnmarshalTo(&a, &p); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPayload, err)
	}
	return &p, nil
}

const decodeUsage = `seal-keyprovider decode: containerd's stream processor for encrypted layers.

containerd runs it for every layer with an +encrypted media type (a stream_processors entry):
the encrypted layer on stdin, the plain layer on stdout, the layer's descriptor on fd 3 (an
io.containerd.ocicrypt.v1.Payload), the media type in STREAM_PROCESSOR_MEDIATYPE. It replaces
imgcrypt's ctd-decoder, whose module (github.com/containerd/imgcrypt/v2/cmd) the Go module proxy
does not serve; a node that already runs ctd-decoder can keep it and name seal-keyprovider
(without decode) as its ocicrypt keyprovider instead. With --rot and --rot-ca it unwraps
Seal's layer keys in-process (the node's TPM evidence to the ROT, as the keyprovider mode
does); other keyproviders come from the ocicrypt configuration in OCICRYPT_KEYPROVIDER_CONFIG,
keys from --decryption-keys-path.
A refusal goes to stderr with exit code 1, which containerd reports as the pull's error.

containerd configuration (config.toml; its default has these entries, naming ctd-decoder):
  [stream_processors."io.containerd.ocicrypt.decoder.v1.tar.gzip"]
    accepts = ["application/vnd.oci.image.layer.v1.tar+gzip+encrypted"]
    returns = "application/vnd.oci.image.layer.v1.tar+gzip"
    path = "/usr/local/bin/seal-keyprovider"
    args = ["decode", "--rot", "https://rot.example.org:8443", "--rot-ca", "/etc/seal/rot-ca.pem"]
  (and the same for io.containerd.ocicrypt.decoder.v1.tar with the uncompressed media types)

Usage:
  seal-keyprovider decode [--rot URL --rot-ca FILE [--tpm ...] [--ak-handle ...]
                          [--token-file FILE] [--timeout 30s]] [--decryption-keys-path DIR]

Flags:
`

// Decode is the stream processor mode (seal-keyprovider decode ARGS): it decrypts the layer
// on stdin to stdout with the descriptor in payload (fd 3; nil when containerd passed none)
// and returns the exit code.
func Decode(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string, payload io.Reader) int {
	fs := flag.NewFlagSet("seal-keyprovider decode", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, decodeUsage); fs.PrintDefaults() }
	rf := addROTFlags(fs, getenv)
	keysPath := fs.String("decryption-keys-path", "", "a directory of private keys for other schemes (as ctd-decoder; a missing directory holds none)")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return ExitOK
		}
		return ExitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(stderr, "seal-keyprovider decode: no arguments; see --help")
		return ExitUsage
	}
	fail := func(code int, err error) int {
		fmt.Fprintf(stderr, "seal-keyprovider decode: %s\n", strings.TrimPrefix(err.Error(), "keyprovider: "))
		return code
	}
	if *rf.rot != "" || *rf.caFile != "" {
		src, err := rf.source()
		if err != nil {
			return fail(ExitUsage, err)
		}
		ctx, cancel := context.WithTimeout(ctx, *rf.timeout)
		defer cancel()
		ocicrypt.RegisterKeyWrapper("provider."+ProviderName, unwrapper{ctx: ctx, src: src})
	}
	if payload == nil {
		return fail(ExitFailed, fmt.Errorf("%w: nothing on fd 3: containerd passes the layer's descriptor there (CRI with image_decryption key_model \"node\")", ErrPayload))
	}
	p, err := ParsePayload(payload)
	if err != nil {
		return fail(ExitFailed, err)
	}
	dc := &p.DecryptConfig
	if *keysPath != "" {
		if dc, err = withKeys(dc, *keysPath); err != nil {
			return fail(ExitFailed, err)
		}
	}
	desc := p.Descriptor
	if mt := getenv(MediaTypeEnv); desc.MediaType == "" {
		desc.MediaType = mt
	}
	r, _, err := ocicrypt.DecryptLayer(dc, stdin, desc, false)
	if err != nil {
		return fail(ExitFailed, fmt.Errorf("layer %s: %w", desc.Digest, err))
	}
	if _, err := io.Copy(stdout, r); err != nil {
		return fail(ExitFailed, fmt.Errorf("layer %s: %w", desc.Digest, err))
	}
	return ExitOK
}

// withKeys adds the private keys in dir (each regular file one key) to dc.
func withKeys(dc *config.DecryptConfig, dir string) (*config.DecryptConfig, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return dc, nil
	}
	if err != nil {
		return nil, fmt.Errorf("keyprovider: --decryption-keys-path: %w", err)
	}
	var keys []string
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("keyprovider: --decryption-keys-path: %w", err)
		}
		keys = append(keys, base64.StdEncoding.EncodeToString(b))
	}
	if len(keys) == 0 {
		return dc, nil
	}
	params, err := utils.SortDecryptionKeys(strings.Join(keys, ","))
	if err != nil {
		return nil, fmt.Errorf("keyprovider: --decryption-keys-path %s: %w", dir, err)
	}
	cc := config.CombineCryptoConfigs([]config.CryptoConfig{config.InitDecryption(params), {DecryptConfig: dc}})
	return cc.DecryptConfig, nil
}

// unwrapper is the "seal" keyprovider in-process: ocicrypt hands it the annotation and it
// returns the layer options, as the keyprovider mode does over stdin and stdout.
type unwrapper struct {
	ctx context.Context
	src KeySource
}

func (u unwrapper) UnwrapKey(_ *config.DecryptConfig, annotation []byte) ([]byte, error) {
	a, err := ParseAnnotation(annotation)
	if err != nil {
		return nil, err
	}
	key, err := u.src.ImageKey(u.ctx, a)
	if err != nil {
		return nil, err
	}
	return a.Open(key)
}

func (unwrapper) WrapKeys(*config.EncryptConfig, []byte) ([]byte, error) {
	return nil, errors.New("keyprovider: decode only unwraps; encrypt images with sealctl image seal --encrypt")
}
func (unwrapper) GetAnnotationID() string                      { return AnnotationID }
func (unwrapper) NoPossibleKeys(map[string][][]byte) bool      { return false }
func (unwrapper) GetPrivateKeys(map[string][][]byte) [][]byte  { return nil }
func (unwrapper) GetKeyIdsFromPacket(string) ([]uint64, error) { return nil, nil }
func (unwrapper) GetRecipients(string) ([]string, error)       { return nil, nil }
