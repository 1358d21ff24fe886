// Package rotcmd is the seal-rot command line (cobra): flag parsing, logging and store
// selection around rot.ListenAndServe. cmd/rot only calls Main.
package rotcmd
