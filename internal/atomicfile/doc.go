// Package atomicfile writes files that readers see whole or not at all, and that are on disk
// once the write returns: the data goes to a temporary file in the same directory, which is
// synced, renamed over the target, and the directory is synced too.
//
// It is Seal's one way to write a file that matters: the ROT's state, the admin credentials,
// the webhook's serving certificate files, sealctl's certificate and Egg files, seal-init's
// ready file and binary copy, and the image tarballs of the build tools.
package atomicfile
