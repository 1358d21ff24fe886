// Package egg implements Seal's enrollment credential, the Egg.
//
// An Egg's text form is "seal-egg-v1." followed by the unpadded base64url encoding of a JSON
// object (see Outer). The outer fields tell a pod where its ROT is and which CA to trust; the
// ct field is an AEAD ciphertext, under a key only the ROT holds, of the Claims the Egg grants,
// with the outer rot, td and kid fields as associated data. Only the ROT can open or forge an
// Egg; anyone can read where it points.
package egg
