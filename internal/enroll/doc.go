// Package enroll is seal-init: it reads a pod's Egg, generates the pod's key in memory, redeems
// the Egg with a CSR at the ROT the Egg names (trusting only the Egg's rotCA), and writes the
// certificate, trust bundles and age data keys into the pod's memory volume through podfiles.
//
// Redemption retries with jittered exponential backoff while the ROT is unreachable or answers
// 5xx, and stops at once on a 4xx (a bad, expired or revoked Egg). Every failure is a *Failure
// whose message is one line saying what failed and what to check. In watch mode the identity is
// renewed at about two thirds of the certificate's lifetime and the file set swapped atomically.
//
// Main is the whole command line (flags, SEAL_* environment, the copy step, the check step that
// is the sidecar's exec probe, health endpoints); cmd/init only calls it.
package enroll
