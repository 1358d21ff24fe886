// Package rot is the Root of Trust server, seal-rot: it holds the trust domain's CA hierarchy
// and egg-sealing keys (through a store.Store), redeems Eggs for pod certificates and data
// keys, serves the SPIFFE bundle endpoint, and offers the admin API over mTLS.
//
// # Trust
//
// The ROT CA (self-signed) signs the ROT's serving certificate (SPIFFE ID
// spiffe://TD/seal/rot), the admin client certificate (spiffe://TD/seal/admin) and one Workload
// CA per workload. Workload CAs sign pod and external-client leaves. Pods verify their peers
// against the Workload CA(s) (the redeem answer's trustBundle), so only pods of the same
// workload trust each other. The trust domain's SPIFFE bundle (GET /v1/bundle, what other trust
// domains import) holds the ROT CA(s): every leaf of this domain chains to them through the
// Workload CA its owner presents.
//
// # Hot path
//
// New loads the whole state once and keeps it, parsed, in an immutable view behind an atomic
// pointer; redemptions never touch the store. Admin changes are written to the store first and
// then published as a new view.
//
// # Redemption fails closed
//
// An Egg redeems only while the ROT holds its record (a miss reloads the state once), the
// record is not revoked, and the workload it names is the same incarnation it was minted for.
// Leaves never outlive their Egg. POST /v1/redeem is rate-limited per Egg id and per client
// address (RedeemLimits), and CSR keys are checked before their signatures.
package rot
