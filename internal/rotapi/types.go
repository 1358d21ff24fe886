package rotapi

import "time"

// Paths served by seal-rot.
const (
	PathRedeem  = "/v1/redeem"
	PathBundle  = "/v1/bundle"
	PathHealthz = "/healthz"
	PathReadyz  = "/readyz"
	PathMetrics = "/metrics"

	// Admin API (mTLS with the admin certificate).
	PathWorkloads = "/v1/admin/workloads"             // GET list, POST create
	PathWorkload  = "/v1/admin/workloads/{name}"      // GET, DELETE
	PathEggs      = "/v1/admin/workloads/{name}/eggs" // GET list, POST mint
	PathCert      = "/v1/admin/workloads/{name}/cert" // POST issue an external-client cert
	PathKeys      = "/v1/admin/workloads/{name}/keys" // GET current recipient, POST rotate
	PathEgg       = "/v1/admin/eggs/{id}"             // DELETE revokes
	PathBundles   = "/v1/admin/bundles"               // GET list federated, POST import
	PathExport    = "/v1/admin/bundle"                // GET this trust domain's bundle document
)

// MaxBodyBytes caps every request body the ROT reads.
const MaxBodyBytes = 64 << 10

// Error is the body of every non-2xx answer.
type Error struct {
	Error string `json:"error"`
}

// RedeemRequest is the body of POST /v1/redeem.
type RedeemRequest struct {
	// Egg is the text form of the Egg (the credential).
	Egg string `json:"egg"`
	// CSR is a PEM PKCS#10 request; only its public key is used.
	CSR string `json:"csr"`
	// Hostnames are extra DNS SANs the pod asks for; the ROT grants only those both the Egg and
	// the Workload allow.
	Hostnames []string `json:"hostnames,omitempty"`
	// FederatesWith narrows the federated bundles returned to these trust domains (the pod's
	// seal.dev/federates-with). Empty means every trust domain the Workload federates with.
	FederatesWith []string `json:"federatesWith,omitempty"`
	// Token is the pod's projected ServiceAccount token (JWT): the second factor for a
	// workload with bindings (docs/binding.md).
	Token string `json:"token,omitempty"`
	// Evidence proves what the pod's machine runs (a TPM 2.0 quote over the ROT's nonce from
	// POST /v1/attest/challenge); required by Workloads with an attestation policy.
	Evidence *Evidence `json:"evidence,omitempty"`
}

// DataKey is one age X25519 identity of a workload.
type DataKey struct {
	ID       string `json:"id"`
	Identity string `json:"identity"`
}

// RedeemResponse is the answer to a successful redemption.
type RedeemResponse struct {
	// Certificate is the PEM chain: leaf first, then the Workload CA.
	Certificate string `json:"certificate"`
	// TrustBundle is the PEM of the Workload CA(s) peers are verified against.
	TrustBundle string `json:"trustBundle"`
	// FederatedBundles maps a trust domain to the PEM of its X.509 authorities.
	FederatedBundles map[string]string `json:"federatedBundles,omitempty"`
	// DataKeys are the workload's age identities, newest first.
	DataKeys []DataKey `json:"dataKeys"`
	NotAfter time.Time `json:"notAfter"`
	SPIFFEID string    `json:"spiffeID"`
}

// Workload is a workload as the admin API shows it.
type Workload struct {
	Name          string   `json:"name"`
	Peers         []string `json:"peers,omitempty"`
	CertTTL       string   `json:"certTTL,omitempty"` // Go duration, default 24h
	FederatesWith []string `json:"federatesWith,omitempty"`
	RouteHosts    []string `json:"routeHosts,omitempty"`
	// Attest names the attestation policy redemptions must satisfy (empty: none).
	Attest string `json:"attest,omitempty"`
	// Read-only fields.
	CAFingerprint string    `json:"caFingerprint,omitempty"`
	DataKeyIndex  int       `json:"dataKeyIndex"`
	Created       time.Time `json:"created,omitempty"`
	// Bindings are the (cluster, namespace, service account) whose pods may redeem; empty:
	// the Egg alone redeems.
	Bindings []Binding `json:"bindings,omitempty"`
}

// MintRequest is the body of POST .../eggs.
type MintRequest struct {
	Peer      string   `json:"peer,omitempty"` // default "any"
	TTL       string   `json:"ttl,omitempty"`  // Go duration, default 720h
	Hostnames []string `json:"hostnames,omitempty"`
}

// EggInfo describes a minted Egg (never its secret part).
type EggInfo struct {
	ID        string    `json:"id"`
	Workload  string    `json:"workload"`
	Peer      string    `json:"peer"`
	NotAfter  time.Time `json:"notAfter"`
	Hostnames []string  `json:"hostnames,omitempty"`
	Revoked   bool      `json:"revoked,omitempty"`
}

// MintResponse carries a freshly minted Egg.
type MintResponse struct {
	EggInfo
	Egg string `json:"egg"`
}

// CertRequest is the body of POST .../cert: an external client's CSR for a peer identity.
type CertRequest struct {
	Peer string `json:"peer"`
	CSR  string `json:"csr"`
	TTL  string `json:"ttl,omitempty"`
}

// CertResponse is an external client's certificate.
type CertResponse struct {
	Certificate string    `json:"certificate"`
	TrustBundle string    `json:"trustBundle"`
	NotAfter    time.Time `json:"notAfter"`
	SPIFFEID    string    `json:"spiffeID"`
}

// KeysResponse is a workload's current data key (its public half).
type KeysResponse struct {
	Index     int    `json:"index"`
	Recipient string `json:"recipient"`
}

// FederatedBundle is a foreign trust domain's bundle as the ROT holds it.
type FederatedBundle struct {
	TrustDomain       string     `json:"trustDomain"`
	BundleEndpointURL string     `json:"bundleEndpointURL,omitempty"`
	EndpointProfile   string     `json:"endpointProfile,omitempty"` // https_spiffe | https_web
	EndpointSPIFFEID  string     `json:"endpointSPIFFEID,omitempty"`
	Bundle            string     `json:"bundle,omitempty"` // SPIFFE bundle JSON document
	SequenceNumber    uint64     `json:"sequenceNumber,omitempty"`
	LastRefreshed     *time.Time `json:"lastRefreshed,omitempty"`
	LastError         string     `json:"lastError,omitempty"`
}
