// Package podfiles writes the set of files seal-init puts into a pod's memory volume, atomically
// as a set, the way the kubelet's AtomicWriter updates projected volumes.
//
// Every generation of the set is written into a fresh hidden directory "..<timestamp>.<random>"
// inside the output directory. When it is complete and synced, a "..data" symlink is switched to
// it with a single rename, and each top-level name ("tls.crt", "bundles", ...) is a symlink
// through "..data" ("tls.crt -> ..data/tls.crt"). The previous generation is removed after the
// switch. A reader therefore sees either the whole old set or the whole new set, never a
// half-written file; a reader that must see two files of the same generation resolves "..data"
// once and reads both through it (see Read). Anything in the output directory not named by the
// set (such as the "bin" directory seal-init copies itself into) is left alone.
package podfiles
