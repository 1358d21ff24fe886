// Package verify decides whether a container image may run: it evaluates Seal's ImagePolicy and
// ApprovedImage resources against an image digest, verifying cosign signatures (the legacy
// `.sig` tag and sigstore bundles stored as OCI referrers) with public keys or keyless
// identities from a policy's own trusted root, offline unless a policy names a transparency log.
//
// A Verifier caches successful verifications (keyed by digest, policy uid and generation, and
// authority), coalesces concurrent misses for the same image, and gives registry calls their own
// timeout. CheckFile makes the same decision from a policy file, for CI.
package verify
