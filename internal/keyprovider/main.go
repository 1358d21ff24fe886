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

containerd's imgcrypt stream processor (ctd-decoder) runs it, through ocicrypt's keyprovider
configuration (OCICRYPT_KEYPROVIDER_CONFIG), for every encrypted layer it unpacks: it reads one
keyunwrap request on stdin, gets the image key from the ROT with this node's TPM evidence, and
writes the layer's key on stdout. A refusal goes to stderr with exit code 1.

Usage:
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
	rot := fs.String("rot", getenv("SEAL_ROT"), "base URL of the ROT (env SEAL_ROT)")
	caFile := fs.String("rot-ca", "", "PEM file of the ROT's CA certificate (the trust anchor of its TLS)")
	tpm := fs.String("tpm", attest.DefaultDevice, "the node's TPM: a device or tcp:HOST:PORT (a simulator)")
	akHandle := fs.String("ak-handle", fmt.Sprintf("%#x", attest.DefaultAKHandle), "persistent handle of the node's attestation key")
	tokenFile := fs.String("token-file", "", "a ServiceAccount token file sent with each request, for workloads bound to clusters")
	timeout := fs.Duration("timeout", 30*time.Second, "give up on the ROT and the TPM after this long")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return ExitOK
		}
		return ExitUsage
	}
	if *rot == "" || *caFile == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "seal-keyprovider: --rot and --rot-ca are required (and no arguments); see --help")
		return ExitUsage
	}
	h, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(*akHandle), "0x"), 16, 32)
	if err != nil || h>>24 != 0x81 {
		fmt.Fprintf(stderr, "seal-keyprovider: --ak-handle %q is not a persistent TPM handle (0x81000000-0x81ffffff)\n", *akHandle)
		return ExitUsage
	}
	caPEM, err := os.ReadFile(*caFile)
	if err != nil {
		fmt.Fprintf(stderr, "seal-keyprovider: reading --rot-ca: %v\n", err)
		return ExitUsage
	}
	c, err := rotapi.NewClient(strings.TrimSuffix(*rot, "/"), caPEM, nil)
	if err != nil {
		fmt.Fprintf(stderr, "seal-keyprovider: %v\n", err)
		return ExitUsage
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	src := &ROT{Client: c, TPM: *tpm, AKHandle: uint32(h), TokenFile: *tokenFile}
	if err := Serve(ctx, stdin, stdout, src); err != nil {
		fmt.Fprintf(stderr, "seal-keyprovider: %s\n", strings.TrimPrefix(err.Error(), "keyprovider: "))
		return ExitFailed
	}
	return ExitOK
}
