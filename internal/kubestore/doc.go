// Package kubestore is the ROT's state store on the Kubernetes API server (seal-rot --kube):
// every ROT replica of a namespace shares one state through Secrets and Seal custom resources.
//
//	Secret seal-rot-authority          authority.json: ROT CA(s), egg-sealing keyring, bundle sequence
//	Secret seal-rot-admin              tls.crt, tls.key, ca.crt: admin credentials of the first start
//	Secret seal-workload-<name>        workload.json: Workload CA(s), age data keys, last accepted spec
//	Workload <name> (cluster-scoped)   the workload's spec (users may kubectl apply it); status
//	Secret seal-rot-eggs-<0-f>         one key per minted Egg id: its metadata and revocation
//	FederatedTrustDomain (cluster)     a foreign trust domain; spec.trustDomainBundle is the first bundle
//	Secret seal-rot-bundles            one key per trust domain: the last good (refreshed) bundle
//	WorkloadCluster (cluster)          a cluster whose pods may redeem: issuer, audience, jwks or jwksURL
//	Secret seal-rot-clusters           one key per WorkloadCluster with a jwksURL: the last good JWKS
//	Secret seal-secrets-<workload>     one key per secret of the workload: its value age-encrypted to a data key
//
// Writes use the resourceVersion the store last read, so two replicas cannot overwrite each
// other: the loser gets an error wrapping ErrConflict, and the Notifier makes it reload.
//
// Load follows the store contract: it only reads, and a Secret that exists but does not parse
// is an error wrapping store.ErrCorrupt naming the object. A Workload resource without its
// Secret (created with kubectl) is not part of the loaded state yet: the reconciler that runs
// behind Changed gives it a Workload CA and a data key from the stored ROT CA, writes its
// status (Ready, caFingerprint, dataKeyIndex) and tells the ROT to reload. A Workload deleted
// with kubectl has its Eggs revoked and its Secret removed (the finalizer seal.dev/rot).
//
// Changed runs shared informers (controller-runtime's cache, metadata only) on the Secrets of
// the namespace, the Workloads and the FederatedTrustDomains; their events, coalesced over
// 50ms, and a resync every Options.Resync run the reconciler, which reads the objects live.
//
// A Secret is not proof: a Workload CA is trusted only when one of the stored ROT CAs signed
// it for that workload and, once the Workload's status records a caFingerprint, the Secret
// still holds that CA. A Secret that fails (planted by whoever could create Secrets in the
// namespace) is left out of the loaded state, never adopted over, and its Workload reports
// Ready=False, reason CAUntrusted (ErrCAUntrusted).
package kubestore
