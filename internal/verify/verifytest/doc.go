// Package verifytest gives tests real parts for image verification: an OCI registry on
// loopback that logs every request, random images pushed to it, and cosign signatures made with
// the cosign library (legacy `.sig` tags and sigstore bundles as OCI referrers), by keys or by
// keyless identities from a test certificate authority.
package verifytest
