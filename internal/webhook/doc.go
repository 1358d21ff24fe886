// Package webhook is seal-webhook's admission server: controller-runtime's webhook server
// serving the pod injection review at /inject (see package inject for the mutation itself),
// plus any handlers other parts of Seal add (image pinning and verification), with bounded
// request bodies, Prometheus metrics, Kubernetes Events when a pod is refused, and a graceful
// shutdown that finishes the reviews in flight.
//
// The serving certificate comes from files (Options.CertDir) or from a GetCertificate function
// such as package servingcert's in-process manager.
package webhook
