// Package custodytest gives tests a real PKCS#11 token: a SoftHSM2 token initialised for one
// test in a temporary directory.
package custodytest
