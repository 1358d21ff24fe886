package enroll

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/seal-dev/seal/internal/rotapi"
)

func TestAttestFlags(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"tpm2 with defaults", []string{"--attest", "tpm2"}, ""},
		{"tcp TPM and handle", []string{"--attest", "tpm2", "--tpm", "tcp:127.0.0.1:2321", "--ak-handle", "0x81010003"}, ""},
		{"unknown type", []string{"--attest", "sev"}, `--attest "sev": the only evidence type is tpm2`},
		{"handle not persistent", []string{"--attest", "tpm2", "--ak-handle", "0x80000001"}, "not a persistent TPM handle"},
		{"handle not hex", []string{"--ak-handle", "zz"}, "not a persistent TPM handle"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := parse(tc.args, envOf(nil), &bytes.Buffer{})
			if (err == nil) != (tc.wantErr == "") || err != nil && !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("parse(%v) = %v, want %q", tc.args, err, tc.wantErr)
			}
		})
	}
}

func TestAttestSubcommandUsage(t *testing.T) {
	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		want     string
	}{
		{"no subcommand", []string{"attest"}, ExitUsage, "seal-init attest enroll"},
		{"help", []string{"attest", "--help"}, ExitOK, "seal-init attest pcrs"},
		{"pcrs without --pcr", []string{"attest", "pcrs", "--tpm", "tcp:127.0.0.1:1"}, ExitUsage, "--pcr is required"},
		{"pcrs bad index", []string{"attest", "pcrs", "--pcr", "99"}, ExitUsage, `PCR index "99"`},
		{"enroll bad handle", []string{"attest", "enroll", "--ak-handle", "1"}, ExitUsage, "not a persistent TPM handle"},
		{"enroll without a TPM", []string{"attest", "enroll", "--tpm", "/dev/no-such-tpm"}, ExitFailure, "opening the TPM /dev/no-such-tpm"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var errb bytes.Buffer
			code := Main(context.Background(), tc.args, envOf(nil), &errb)
			if code != tc.wantCode || !strings.Contains(errb.String(), tc.want) {
				t.Errorf("seal-init %v: exit %d, stderr %q; want %d with %q", tc.args, code, errb.String(), tc.wantCode, tc.want)
			}
		})
	}
}

// TestUnknownNonceRetried: a nonce another ROT replica issued is retried with a fresh
// challenge; every other attestation refusal is final.
func TestUnknownNonceRetried(t *testing.T) {
	lost := &rotapi.StatusError{Code: 403, Message: "redeem: attestation refused: attest: unknown nonce: this ROT did not issue it"}
	if permanent(retryableAttest(lost)) {
		t.Error("an unknown nonce is final, want retried")
	}
	pcr := &rotapi.StatusError{Code: 403, Message: "redeem: attestation refused: attest: PCR mismatch: PCR 7 mismatch"}
	if !permanent(retryableAttest(pcr)) {
		t.Error("a PCR mismatch is retried, want final")
	}
}
