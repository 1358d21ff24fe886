// Package ca is Seal's certificate authority arithmetic: the self-signed ROT CA, a Workload CA
// per workload (an intermediate under the ROT CA with path length 0), pod and external-client
// leaves issued from a Workload CA, the ROT's own serving certificate and the admin client
// certificate, and checks on the CSRs pods send.
//
// Names in a leaf always come from policy (a Leaf value the ROT fills from the Egg and the
// Workload), never from the CSR: only the CSR's public key is used. Every function takes its
// clock and randomness from Options, so TTL and rotation tests run instantly.
//
// Rotation keeps an old and a new CA side by side: Current picks the CA new leaves are signed
// with, Valid lists every CA still inside its validity window (what goes into trust bundles),
// and NeedsRotation says when a CA has used up its share of life and a successor is due.
package ca
