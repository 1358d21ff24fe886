// Package attest is attestation-gated redemption: the ROT's single-use nonces
// (POST /v1/attest/challenge), the verification of a machine's evidence against registered
// attestation keys and a policy of reference values, and the TPM 2.0 side seal-init runs
// (enrolling an attestation key, quoting PCRs).
//
// A redemption of a Workload with an attestation policy carries evidence; Checker.Check
// consumes the evidence's nonce (bound to the Egg it was asked for, single use, short-lived)
// and hands the evidence to the Verifier of its type. TPM2 verifies a TPM 2.0 quote: the
// attestation key is registered, the TPMT_SIGNATURE over the TPMS_ATTEST is valid, extraData
// is the nonce, the quoted PCR digest is the digest of the reported PCR values, and those
// values equal the policy's. Every refusal wraps one sentinel error naming the failed check.
//
// Other evidence (AMD SEV-SNP or Intel TDX reports) plugs in as another Verifier under its
// own type; the nonce, the registered keys and the policy stay the same.
//
// All TPM structures are parsed and built by github.com/google/go-tpm's tpm2 package.
package attest
