// Package store is the ROT's durable state and the one seam between the ROT and where that
// state lives. Two implementations satisfy Store: the file store in this package
// (seal-rot --state-dir DIR, the embedded default) and a Kubernetes store (seal-rot --kube,
// Secrets and Workload resources in the ROT's namespace).
//
// # The contract
//
// The ROT calls Load once at start and keeps the whole State in memory: the redemption hot path
// never reads the store. Every change (a workload created, an Egg minted or revoked, a data key
// rotated, a bundle imported) is written through one Put/Delete call before the ROT answers the
// admin request, so an answered change is durable. The ROT serializes its own writes; a store
// does not need to handle two concurrent writers from the same ROT, but it must refuse to let a
// second process corrupt the state (the file store takes an exclusive flock; a Kubernetes store
// relies on resourceVersion conflicts).
//
// Load must never repair, re-create or half-read state. When nothing is stored yet it returns a
// State with a nil Authority (a first start; the ROT then creates the ROT CA and saves it with
// PutAuthority). When something is stored but cannot be read or does not hang together (a
// corrupt file, workloads without an authority) it returns an error wrapping ErrCorrupt that
// names what is wrong, and writes nothing: the ROT stops rather than silently creating a new CA.
//
// Secrets in State (CA keys, egg-sealing keys, age identities) are stored as they are; a store
// protects them at rest (file mode 0600; Kubernetes Secrets). Egg texts are never stored, only
// their metadata (Egg).
//
// storetest.Run is the conformance suite an implementation runs in its tests.
//
// A store whose state can change under a running ROT (several ROT replicas sharing the API
// server) also implements Notifier; the ROT then reloads its in-memory state when told.
package store
