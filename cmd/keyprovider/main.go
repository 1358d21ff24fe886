// Command seal-keyprovider decrypts Seal-encrypted images on a node: "seal-keyprovider decode"
// is containerd's stream processor for encrypted layers, and without "decode" it is an ocicrypt
// keyprovider protocol binary; both get the image key from the ROT with the node's TPM
// evidence. See internal/keyprovider and docs/attestation.md.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/seal-dev/seal/internal/keyprovider"
	"github.com/seal-dev/seal/internal/version"
)

func main() {
	fd3 := payload() // first, before anything else in this process could take fd 3
	if version.Requested(os.Args[1:]) {
		fmt.Println(version.String("seal-keyprovider"))
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	var code int
	if len(os.Args) > 1 && os.Args[1] == "decode" {
		code = keyprovider.Decode(ctx, os.Args[2:], os.Stdin, os.Stdout, os.Stderr, os.Getenv, fd3)
	} else {
		code = keyprovider.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	}
	stop()
	os.Exit(code)
}

// payload is fd 3, where containerd writes a stream processor's payload, or nil when it is not
// open (containerd passed none). An io.Reader, so that "none" is a nil interface.
func payload() io.Reader {
	if _, err := unix.FcntlInt(3, unix.F_GETFD, 0); err != nil {
		return nil
	}
	return os.NewFile(3, "payload")
}
