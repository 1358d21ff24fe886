// Package kubeconfig gives people and pipelines access to Kubernetes clusters through the
// clusters' own certificate authority, the way EMCO's distributed cloud manager does for the
// users of a logical cloud.
//
// For every cluster it creates a certificates.k8s.io/v1 CertificateSigningRequest for a key
// generated on this machine (ECDSA P-256; the key never leaves it), with
// signerName kubernetes.io/kube-apiserver-client, usages [client auth] and expirationSeconds;
// approves it through the /approval subresource (unless told to leave that to someone else);
// watches the object until status.certificate is set, a Denied or Failed condition appears or
// the timeout passes; and deletes the object afterwards. The certificates are assembled into
// one kubeconfig with a context per cluster, built with clientcmd's api types and written
// with clientcmd (mode 0600, atomically).
//
// Renew asks each cluster again for a certificate with the same key, subject and lifetime;
// Inspect reads a kubeconfig back into who it names, in which groups, for which clusters and
// until when.
package kubeconfig
