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
// protects them at rest (file mode 0600; Kubernetes Secrets). What they are is the ROT's key
// provider's choice (internal/custody): PEM in clear, values sealed under a KEK, or handles of
// keys on a PKCS#11 token; a store never needs to tell them apart. Egg texts are never stored, only
// their metadata (Egg).
//
// # Records and their format
//
// The records (Authority, Workload and WorkloadSpec, Egg, Bundle) are the store's own types,
// not the admin API's (internal/rotapi): package rot converts between them at its edge, and
// the Kubernetes store maps them to Secrets and resources. Renaming an API field therefore does
// not change the state format; the JSON field names here are the format, and
// testdata/state-v0.1.0 (state the v0.1.0 release wrote) must keep loading (format_test.go).
//
// Every file is decoded strictly: a field the store does not know makes the state corrupt,
// rather than being dropped on the next write. The one deliberate exception is the fields
// v0.1.0 wrote into a workload's spec because the record then was the API type:
// dataKeyIndex and caFingerprint, derived from the record's data keys and Workload CAs
// whenever they are served. WorkloadSpec.UnmarshalJSON names and accepts exactly those two,
// ignores their values, and stays strict for everything else; the next write of the record
// leaves them out.
//
// storetest.Run is the conformance suite an implementation runs in its tests.
//
// A store whose state can change under a running ROT (several ROT replicas sharing the API
// server) also implements Notifier; the ROT then reloads its in-memory state when told.
package store
