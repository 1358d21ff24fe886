// Package migrate moves a ROT's whole state from one store to another (seal-rot migrate):
// a state directory to a Kubernetes namespace, one cluster to another, and back.
//
// Everything goes through store.Store, so every pair of stores takes the same path: Load the
// source (never written to), Load the destination and refuse it unless it is empty, write
// every kind of record in Kinds order, Load the destination again and compare it with the
// source check by check (Checks). The ROT CAs, the egg-sealing keyring and the bundle sequence
// move as they are, so Eggs minted before the move redeem at the new ROT, the bundle sequence
// keeps growing from where it was, and federated peers keep trusting the same ROT CA.
//
// A kind of record added to store.State is added here with one Kind (count and copy) and one
// or more Checks (what must be equal after the copy).
package migrate
