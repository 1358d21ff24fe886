// Package sniproxy is a TCP passthrough proxy that routes by the SNI of a TLS ClientHello
// without terminating TLS, as an OpenShift router does for Routes with
// tls.termination: passthrough. Tests use it to prove that end-to-end mTLS works through such a
// router; it also exposes the ClientHello parser it is built on.
package sniproxy
