package store

import "time"

// Attestation is the ROT's attestation configuration: registered TPM attestation keys and
// policies of reference values (attestation-gated redemption, internal/attest).
type Attestation struct {
	Keys     map[string]*AttestationKey    // by name
	Policies map[string]*AttestationPolicy // by name
}

// NewAttestation returns an empty attestation configuration.
func NewAttestation() Attestation {
	return Attestation{Keys: map[string]*AttestationKey{}, Policies: map[string]*AttestationPolicy{}}
}

// AttestationKey is a registered TPM attestation key (the public half only).
type AttestationKey struct {
	Name string `json:"name"`
	// AKPub is the PEM (PKIX) public key, as seal-init attest enroll prints it.
	AKPub   string    `json:"akPub"`
	Created time.Time `json:"created,omitempty"`
}

// AttestationPolicy is a set of reference values a Workload's machines must quote.
type AttestationPolicy struct {
	Name string `json:"name"`
	// PCRs maps a PCR index ("7") to its expected SHA-256 bank value (64 hex digits).
	PCRs    map[string]string `json:"pcrs"`
	Created time.Time         `json:"created,omitempty"`
}
