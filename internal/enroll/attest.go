package enroll

import (
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/seal-dev/seal/internal/attest"
	"github.com/seal-dev/seal/internal/rotapi"
)

// attestOptions are the attestation flags of seal-init.
type attestOptions struct {
	mode     string // "" or "tpm2"
	tpm      string // device path or tcp:HOST:PORT
	akHandle string // hex persistent handle
}

func addAttestFlags(fs *flag.FlagSet, o *attestOptions) {
	fs.StringVar(&o.mode, "attest", "", "attest the machine before redeeming: `tpm2` quotes the Workload policy's PCRs with the ROT's nonce")
	fs.StringVar(&o.tpm, "tpm", "", "the TPM: a device `path` or tcp:HOST:PORT (a TPM simulator such as swtpm); empty: "+attest.DefaultDevice)
	fs.StringVar(&o.akHandle, "ak-handle", "", fmt.Sprintf("persistent `handle` of the attestation key (seal-init attest enroll); empty: %#x", attest.DefaultAKHandle))
}

// device is the TPM to open.
func (o *attestOptions) device() string {
	if o.tpm == "" {
		return attest.DefaultDevice
	}
	return o.tpm
}

func (o *attestOptions) check() error {
	if o.mode != "" && o.mode != rotapi.EvidenceTPM2 {
		return fmt.Errorf("--attest %q: the only evidence type is tpm2", o.mode)
	}
	if _, err := parseHandle(o.akHandle); err != nil {
		return err
	}
	return nil
}

func parseHandle(s string) (uint32, error) {
	if s == "" {
		return attest.DefaultAKHandle, nil
	}
	h, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(s), "0x"), 16, 32)
	if err != nil || h>>24 != 0x81 {
		return 0, fmt.Errorf("--ak-handle %q is not a persistent TPM handle (0x81000000-0x81ffffff)", s)
	}
	return uint32(h), nil
}

// attester returns the Enroller's Attest hook for the options (nil without --attest).
func (o *attestOptions) attester() func(ctx context.Context, ch *rotapi.ChallengeResponse) (*rotapi.Evidence, error) {
	if o.mode == "" {
		return nil
	}
	h, _ := parseHandle(o.akHandle) // checked by parse
	return func(_ context.Context, ch *rotapi.ChallengeResponse) (*rotapi.Evidence, error) {
		return quoteTPM(o.device(), h, ch)
	}
}

// quoteTPM opens the TPM (for this quote only: a simulator serves one client at a time) and
// quotes the challenge's PCRs over its nonce.
func quoteTPM(spec string, handle uint32, ch *rotapi.ChallengeResponse) (*rotapi.Evidence, error) {
	nonce, err := base64.StdEncoding.DecodeString(ch.Nonce)
	if err != nil || len(nonce) == 0 {
		return nil, &badAnswer{msg: "the attestation challenge's nonce is not base64"}
	}
	t, err := attest.OpenTPM(spec)
	if err != nil {
		return nil, &Failure{Err: err, What: fmt.Sprintf("cannot open the TPM %s (%s)", spec, cause(err)),
			Check: "the pod needs the node's TPM: annotate it seal.dev/attest: tpm2 and give the node a TPM device (/dev/tpmrm0) or a TPM device plugin"}
	}
	defer t.Close()
	ev, err := attest.Quote(t, handle, nonce, ch.PCRs)
	if err != nil {
		return nil, &Failure{Err: err, What: fmt.Sprintf("the TPM %s could not quote PCRs %v (%s)", spec, ch.PCRs, cause(err)),
			Check: fmt.Sprintf("enroll the node first: seal-init attest enroll --tpm %s --ak-handle %#x, and register the key with sealctl attestation key add", spec, handle)}
	}
	return ev, nil
}

// evidence gets a challenge and the evidence for one redemption; nil without --attest or
// when the Workload has no attestation policy (the challenge names no PCRs).
func (e *Enroller) evidence(ctx context.Context) (*rotapi.Evidence, error) {
	if e.Attest == nil {
		return nil, nil
	}
	ch, err := e.client.Challenge(ctx, e.eggText)
	if err != nil {
		return nil, err
	}
	if len(ch.PCRs) == 0 {
		e.log().Info("the Workload has no attestation policy; redeeming without evidence")
		return nil, nil
	}
	ev, err := e.Attest(ctx, ch)
	if err != nil {
		return nil, err
	}
	e.log().Debug("quoted PCRs for the ROT's challenge", "pcrs", ch.PCRs)
	return ev, nil
}

const attestUsage = `seal-init attest: the node side of TPM 2.0 attestation.

Usage:
  seal-init attest enroll [--tpm DEV|tcp:HOST:PORT] [--ak-handle 0x81010002] > ak.pem
        create (or reuse) a restricted ECDSA P-256 attestation key in the TPM's owner hierarchy,
        persist it at --ak-handle, and print its public key (PEM) for
        sealctl attestation key add NODE --ak-pub ak.pem
  seal-init attest pcrs [--tpm ...] --pcr 0,7
        print the SHA-256 PCR values as --pcr INDEX=HEX flags for sealctl attestation policy set
`

// mainAttest runs "seal-init attest ...".
func mainAttest(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "enroll" && args[0] != "pcrs") {
		fmt.Fprint(stderr, attestUsage)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			return ExitOK
		}
		return ExitUsage
	}
	var o attestOptions
	var pcrs listFlag
	fs := flag.NewFlagSet("seal-init attest "+args[0], flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	addAttestFlags(fs, &o)
	if args[0] == "pcrs" {
		fs.Var(&pcrs, "pcr", "PCR `indices` to read, e.g. 0,7")
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stderr, attestUsage)
			return ExitOK
		}
		fmt.Fprintf(stderr, "seal-init: attest %s: %v (see seal-init attest --help)\n", args[0], err)
		return ExitUsage
	}
	h, err := parseHandle(o.akHandle)
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var idx []int
	for _, p := range pcrs {
		i, perr := attest.ParsePCRIndex(p)
		if perr != nil && err == nil {
			err = fmt.Errorf("--pcr: %v", perr)
		}
		idx = append(idx, i)
	}
	if err == nil && args[0] == "pcrs" && len(idx) == 0 {
		err = errors.New("--pcr is required (e.g. --pcr 0,7)")
	}
	if err != nil {
		fmt.Fprintf(stderr, "seal-init: attest %s: %v (see seal-init attest --help)\n", args[0], err)
		return ExitUsage
	}
	t, err := attest.OpenTPM(o.device())
	if err != nil {
		fmt.Fprintf(stderr, "seal-init: %v\n", err)
		return ExitFailure
	}
	defer t.Close()
	if args[0] == "pcrs" {
		vals, err := attest.ReadPCRs(t, idx)
		if err != nil {
			fmt.Fprintf(stderr, "seal-init: %v\n", err)
			return ExitFailure
		}
		for _, i := range idx {
			fmt.Fprintf(stdout, "--pcr %d=%x\n", i, vals[i])
		}
		return ExitOK
	}
	pem, created, err := attest.EnrollAK(t, h)
	if err != nil {
		fmt.Fprintf(stderr, "seal-init: %v\n", err)
		return ExitFailure
	}
	what := "reusing the attestation key"
	if created {
		what = "created the attestation key"
	}
	fmt.Fprintf(stderr, "seal-init: %s at %#x in %s; register it with: sealctl attestation key add NODE --ak-pub FILE\n", what, h, o.device())
	fmt.Fprint(stdout, pem)
	return ExitOK
}

// stdout is where seal-init attest prints (a variable for tests).
var stdout io.Writer = os.Stdout

// nonceLost is a redemption refused because the ROT did not know the challenge's nonce (it
// restarted, or another replica answered): a fresh challenge may pass, so it is retried.
type nonceLost struct{ msg string }

func (e *nonceLost) Error() string { return e.msg }

// retryableAttest turns a refusal for an unknown nonce into a retryable error.
func retryableAttest(err error) error {
	var se *rotapi.StatusError
	if errors.As(err, &se) && se.Code == 403 && strings.Contains(se.Message, "attest: unknown nonce") {
		return &nonceLost{msg: "the ROT did not know the attestation nonce (another replica, or it restarted): " + se.Message}
	}
	return err
}
