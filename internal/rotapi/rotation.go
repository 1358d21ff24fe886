package rotapi

import "time"

// Admin API paths for CA and key rotation (mTLS with the admin certificate).
const (
	PathCAs              = "/v1/admin/cas"                 // GET every CA in use
	PathCA               = "/v1/admin/cas/{fingerprint}"   // DELETE retires a CA
	PathRotateROTCA      = "/v1/admin/rotate/rot-ca"       // POST a new ROT CA and Workload CAs under it
	PathRotateEggKey     = "/v1/admin/rotate/egg-key"      // POST a new egg-sealing key
	PathRotateWorkloadCA = "/v1/admin/workloads/{name}/ca" // POST a new Workload CA
)

// CA kinds.
const (
	CAKindROT      = "rot"
	CAKindWorkload = "workload"
)

// CA describes one ROT or Workload CA the ROT holds (never its key).
type CA struct {
	// Kind is "rot" or "workload".
	Kind string `json:"kind"`
	// Workload names the workload of a Workload CA.
	Workload string `json:"workload,omitempty"`
	// Fingerprint is the hex SHA-256 of the certificate's DER: what `sealctl ca retire` takes.
	Fingerprint string `json:"fingerprint"`
	// Issuer is the fingerprint of the ROT CA that signed a Workload CA.
	Issuer    string    `json:"issuer,omitempty"`
	NotBefore time.Time `json:"notBefore"`
	NotAfter  time.Time `json:"notAfter"`
	// Current is true for the CA that signs new certificates (one per kind and workload);
	// the others are only in trust bundles, until they expire or are retired.
	Current bool `json:"current"`
	// SignsFrom, on a rotated Workload CA that is published but not signing yet, is when it
	// becomes current (docs/operations.md, rotation).
	SignsFrom *time.Time `json:"signsFrom,omitempty"`
}

// RotateResponse answers a rotation: the CAs it created.
type RotateResponse struct {
	Created []CA `json:"created"`
}

// RetireResponse answers DELETE PathCA: the CAs dropped from bundles and state (a ROT CA
// takes the Workload CAs it signed with it).
type RetireResponse struct {
	Retired []CA `json:"retired"`
	// BundleSequence is the trust domain bundle's sequence number after the change.
	BundleSequence uint64 `json:"bundleSequence"`
}

// EggKeyResponse answers POST PathRotateEggKey.
type EggKeyResponse struct {
	// KeyID is the id (the Egg's "kid") of the new current egg-sealing key.
	KeyID string `json:"keyId"`
}
