// Package verify decides whether a container image may run: it evaluates Seal's ImagePolicy and
// ApprovedImage resources against an image digest, verifying cosign signatures (the legacy
// `.sig` tag and sigstore bundles stored as OCI referrers) with public keys or keyless
// identities from a policy's own trusted root, offline unless a policy names a transparency log.
//
// An image is approved when an ApprovedImage names its digest, or when every matching
// ImagePolicy approves it (one of its authorities verifies a signature), as in sigstore
// policy-controller. Keyless identity regexps match the whole issuer or subject.
//
// A Verifier caches successful verifications (keyed by digest, policy uid and generation, and
// authority), coalesces concurrent misses for the same image and credentials, and gives registry
// calls their own timeout. CheckFile makes the same decision from a policy file, for CI.
package verify
