// Package custody keeps the ROT's keys: where the CA signing keys live and how the secrets the
// ROT keeps beside them (egg-sealing keys, workload data keys) are stored. A Keys is a
// ca.Custody: the ROT and the Kubernetes store create, store and open every CA through it, so
// the state never needs to hold a key in clear.
//
// Two providers (seal-rot serve --key-provider):
//
//   - file (File): CA keys are made in memory. Without a key-encryption key they are stored as
//     PKCS#8 PEM, as before. With one (--kek-file), every stored CA key, egg-sealing key and
//     data key is envelope-encrypted (XChaCha20-Poly1305, the value's name as associated data),
//     so a copy of the state directory or of the Secrets is useless without the KEK.
//   - pkcs11 (OpenPKCS11, cgo builds only): CA keys are generated on a PKCS#11 token,
//     non-extractable, and the state stores a handle, pkcs11:id=HEX. The egg-sealing keys and
//     data keys, which the ROT must hold in memory to open Eggs and hand data keys to pods,
//     are stored wrapped by an AES-256 key that never leaves the token (AES-GCM on the token).
//
// Stored forms are text: "-----BEGIN PRIVATE KEY-----..." (plain PEM), "seal-kek:v1:KID:B64"
// (sealed under a KEK whose id is KID), "seal-p11:v1:B64" (sealed under the token's wrapping
// key), "pkcs11:id=HEX" (a key on the token). A provider opens the forms it can and names
// the flag that is missing for the others (ErrKEKRequired, ErrTokenRequired).
package custody
