// Package invite is the federation invite of Seal's first contact between two trust domains
// (sealctl federation invite | join).
//
// An invite is one line of text an admin of the inviting ROT hands to an admin of the other:
//
//	seal-invite-v1.<base64url JSON payload>.<base64url check>
//
// The payload names the inviting trust domain, its ROT URL, the digest of its bundle's X.509
// authorities (Digest), the invite's id, a 256-bit secret and its expiry. The check is an
// HMAC-SHA256 of the first two parts under the secret: it catches an edited invite before
// anything is sent (ErrTampered), though whoever holds the secret could recompute it, so the
// inviting ROT also compares every field with the record it kept.
//
// The joining ROT fetches the bundle at the URL, accepts it only when its digest is the
// invite's, and sends the secret (and its own bundle) only over TLS authenticated by that
// bundle: the digest pins the first contact, as a fingerprint pins an SSH host key.
package invite
