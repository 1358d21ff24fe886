package keyprovider

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/seal-dev/seal/internal/attest"
	"github.com/seal-dev/seal/internal/rotapi"
)

// Exit codes of seal-keyprovider.
const (
	ExitOK     = 0
	ExitFailed = 1 // refused or failed: the reason is on stderr, which ocicrypt reports
	ExitUsage  = 2
)

const usage = `seal-keyprovider: the ocicrypt keyprovider protocol for Seal-encrypted images.

Two modes. "seal-keyprovider decode ..." is containerd's stream processor for encrypted layers
(in place of imgcrypt's ctd-decoder): the simplest node setup, one binary named in containerd's
config.toml; see "seal-keyprovider decode --help". Without "decode" it is an ocicrypt keyprovider:
an ocicrypt stream processor runs it, through ocicrypt's keyprovider configuration
(OCICRYPT_KEYPROVIDER_CONFIG), for every encrypted layer it unpacks: it reads one
keyunwrap request on stdin, gets the image key from the ROT with this node's TPM evidence, and
writes the layer's key on stdout. A refusal goes to stderr with exit code 1.

Usage:
  seal-keyprovider decode --rot URL --rot-ca FILE [flags]     (containerd's stream processor)
  seal-keyprovider --rot URL --rot-ca FILE [--tpm /dev/tpmrm0] [--ak-handle 0x81010002]
                   [--token-file FILE] [--timeout 30s]

ocicrypt keyprovider configuration (JSON):
  {"key-providers": {"seal": {"cmd": {"path": "/usr/local/bin/seal-keyprovider",
     "args": ["--rot", "https://rot.example.org:8443", "--rot-ca", "/etc/seal/rot-ca.pem"]}}}}

Flags:
`

// Main runs seal-keyprovider with args, stdin and stdout, and returns the exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("seal-keyprovider", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	rf := addROTFlags(fs, getenv)
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return ExitOK
		}
		return ExitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(stderr, "seal-keyprovider: no arguments (but the mode decode); see --help")
		return ExitUsage
	}
	src, err := rf.source()
	if err != nil {
		fmt.Fprintf(stderr, "seal-keyprovider: %s\n", strings.TrimPrefix(err.Error(), "keyprovider: "))
		return ExitUsage
	}
	ctx, cancel := context.WithTimeout(ctx, *rf.timeout)
	defer cancel()
	if err := Serve(ctx, stdin, stdout, src); err != nil {
		fmt.Fprintf(stderr, "seal-keyprovider: %s\n", strings.TrimPrefix(err.Error(), "keyprovider: "))
		return ExitFailed
	}
	return ExitOK
}

// rotFlags are the flags that say how to reach the ROT and the node's TPM.
type rotFlags struct {
	rot, caFile, tpm, akHandle, tokenFile *string
	timeout                               *time.Duration
}

func addROTFlags(fs *flag.FlagSet, getenv func(string) string) *rotFlags {
	return &rotFlags{
		rot:       fs.String("rot", getenv("SEAL_ROT"), "base URL of the ROT (env SEAL_ROT)"),
		caFile:    fs.String("rot-ca", "", "PEM file of the ROT's CA certificate (the trust anchor of its TLS)"),
		tpm:       fs.String("tpm", attest.DefaultDevice, "the node's TPM: a device or tcp:HOST:PORT (a simulator)"),
		akHandle:  fs.String("ak-handle", fmt.Sprintf("%#x", attest.DefaultAKHandle), "persistent handle of the node's attestation key"),
		tokenFile: fs.String("token-file", "", "a ServiceAccount token file sent with each request, for workloads bound to clusters"),
		timeout:   fs.Duration("timeout", 30*time.Second, "give up on the ROT and the TPM after this long"),
	}
}

// source checks the flags and returns the ROT they name.
func (f *rotFlags) source() (*ROT, error) {
	if *f.rot == "" || *f.caFile == "" {
		return nil, fmt.Errorf("keyprovider: --rot and --rot-ca are required; see --help")
	}
	h, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(*f.akHandle), "0x"), 16, 32)
	if err != nil || h>>24 != 0x81 {
		return nil, fmt.Errorf("keyprovider: --ak-handle %q is not a persistent TPM handle (0x81000000-0x81ffffff)", *f.akHandle)
	}
	caPEM, err := os.ReadFile(*f.caFile)
	if err != nil {
		return nil, fmt.Errorf("keyprovider: reading --rot-ca: %v", err)
	}
	c, err := rotapi.NewClient(strings.TrimSuffix(*f.rot, "/"), caPEM, nil)
	if err != nil {
		return nil, err
	}
	return &ROT{Client: c, TPM: *f.tpm, AKHandle: uint32(h), TokenFile: *f.tokenFile}, nil
}
