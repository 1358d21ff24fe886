package rotapi

import (
	"context"
	"net/http"
	"time"
)

// Paths of attestation-gated redemption.
const (
	PathAttestChallenge     = "/v1/attest/challenge"
	PathAttestationKeys     = "/v1/admin/attestation/keys"            // GET list, POST add
	PathAttestationKey      = "/v1/admin/attestation/keys/{name}"     // DELETE
	PathAttestationPolicies = "/v1/admin/attestation/policies"        // GET list, POST set
	PathAttestationPolicy   = "/v1/admin/attestation/policies/{name}" // DELETE
)

// EvidenceTPM2 is the evidence type of a TPM 2.0 quote.
const EvidenceTPM2 = "tpm2"

// ChallengeRequest is the body of POST /v1/attest/challenge.
type ChallengeRequest struct {
	Egg string `json:"egg"`
}

// ChallengeResponse is a fresh nonce for one redemption of that Egg.
type ChallengeResponse struct {
	// Nonce is base64 (standard encoding); it is good for one redemption of the Egg it was
	// asked for, until ExpiresAt.
	Nonce     string    `json:"nonce"`
	ExpiresAt time.Time `json:"expiresAt"`
	// PCRs are the PCR indices (sha256 bank) the Workload's policy checks: the ones to quote.
	// Empty when the Workload has no attestation policy.
	PCRs []int `json:"pcrs,omitempty"`
}

// Evidence is what a machine proves about itself in a redemption (RedeemRequest.Evidence).
type Evidence struct {
	// Type is the evidence format: "tpm2".
	Type string `json:"type"`
	// Nonce is the ROT's nonce from /v1/attest/challenge, base64.
	Nonce string `json:"nonce"`
	// AKPub is the PEM (PKIX) public key of the TPM attestation key that signed the quote.
	AKPub string `json:"akPub,omitempty"`
	// Quote is the base64 TPMS_ATTEST the TPM signed.
	Quote string `json:"quote,omitempty"`
	// Signature is the base64 TPMT_SIGNATURE over Quote.
	Signature string `json:"signature,omitempty"`
	// PCRs are the quoted PCR values: bank ("sha256") -> index ("7") -> hex value.
	PCRs map[string]map[string]string `json:"pcrs,omitempty"`
}

// AttestationKey is a registered TPM attestation key.
type AttestationKey struct {
	Name string `json:"name"`
	// AKPub is the PEM (PKIX) public key.
	AKPub string `json:"akPub"`
	// Fingerprint is the SHA-256 of the key's DER, hex (read-only).
	Fingerprint string    `json:"fingerprint,omitempty"`
	Created     time.Time `json:"created,omitempty"`
}

// AttestationPolicy is a set of reference values: PCR index -> sha256 hex.
type AttestationPolicy struct {
	Name    string            `json:"name"`
	PCRs    map[string]string `json:"pcrs"`
	Created time.Time         `json:"created,omitempty"`
}

// Challenge asks the ROT for a fresh nonce for one redemption of egg.
func (c *Client) Challenge(ctx context.Context, egg string) (*ChallengeResponse, error) {
	var out ChallengeResponse
	if err := c.Do(ctx, http.MethodPost, PathAttestChallenge, ChallengeRequest{Egg: egg}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
