// Package sealtls gives Go programs mutual TLS between Seal workloads, authorizing peers by
// their SPIFFE ID rather than by hostname.
//
// A pod that Seal injected finds its identity in a directory (default $SEAL_DIR, else
// /var/run/seal), written by seal-init:
//
//	tls.crt                   this pod's certificate (leaf first, then its Workload CA), PEM
//	tls.key                   its private key, PKCS#8 PEM
//	ca.crt                    the Workload CA bundle peers of this trust domain are verified against
//	bundles/<trust-domain>.pem  the X.509 authorities of each federated trust domain
//
// The top-level names may be symlinks into a "..data" directory that is swapped atomically when
// the certificate is renewed. [Load] reads the directory into a [Source], which notices such
// changes and reloads, keeping the last good set when a reload fails.
//
// [ServerConfig] and [ClientConfig] build a *tls.Config from a Source and an [Authorizer]. The
// peer must present a certificate chain that verifies (x509, with the right extended key usage)
// against the authorities of the trust domain named in its SPIFFE ID — ca.crt for this pod's
// own trust domain, bundles/<td>.pem for a federated one — and the Authorizer must accept that
// ID. Every Seal pod ID has the form
//
//	spiffe://<trust-domain>/workload/<workload>/peer/<peer>
//
// A Source is also go-spiffe's x509svid.Source and x509bundle.Source, so go-spiffe's tlsconfig
// (and any code written for SPIRE's Workload API) runs on Seal's files; [ServerConfig] and
// [ClientConfig] check more (the extended key usage of the role), see docs/sealtls.md.
//
// Hostnames never grant trust: [WithServerName] only sets the SNI a client sends, so that an
// OpenShift passthrough Route (or any SNI-routing proxy) can route the connection, while the
// server is still verified by its SPIFFE ID.
package sealtls
