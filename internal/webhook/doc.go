// Package webhook is seal-webhook's admission serving: NewServer is controller-runtime's
// webhook server made safe for every endpoint registered on it (bounded request bodies, read
// and write deadlines, JSON only, a fixed review logger), and Setup serves the pod injection
// review at /inject on a manager built with it (see package inject for the mutation itself),
// with Prometheus metrics and Kubernetes Events when a pod is refused. Other features (image
// pinning and verification, passthrough Routes) register on the same manager; cmd/webhook
// wires them.
//
// The serving certificate comes from files (ServerOptions.CertDir) or from a GetCertificate
// function such as package servingcert's in-process manager.
package webhook
