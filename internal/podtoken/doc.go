// Package podtoken verifies the second factor of a redemption: a Kubernetes projected
// ServiceAccount token that proves which cluster, namespace and service account the pod
// redeeming an Egg runs as (docs/binding.md).
//
// A Verifier holds the clusters the ROT knows (issuer, audience, parsed JWKS), built once per
// change of the state, so a verification is a map lookup and one signature check. Tokens are
// verified offline with go-jose: RS256 or ES256 (what kube-apiserver signs with), iss, aud,
// exp and nbf with a small leeway, then the kubernetes.io namespace and service account
// against the workload's bindings. Every refusal is an *Error naming the check that failed;
// no error ever carries the token.
//
// Fetch gets a JWKS document from a cluster's issuer URL (with the CA given), for the ROT's
// refresher.
package podtoken
