// Package jsonscan reads a JSON document in one pass over its bytes, decoding only the values
// its caller asks for and skipping (but validating) the rest without allocating it.
//
// It exists for the admission webhook: a review of a pod with 1,500 env vars is 76 KB of JSON
// of which injection reads a few hundred bytes. The Decoder validates the whole document as
// encoding/json does (a document it accepts is one encoding/json accepts) and unquotes
// strings as encoding/json does (invalid UTF-8 becomes U+FFFD); the callers give fields
// encoding/json's semantics (case-sensitive names as the API server's sigs.k8s.io/json,
// null leaves a string as it was, a repeated name decodes into the same value).
package jsonscan
