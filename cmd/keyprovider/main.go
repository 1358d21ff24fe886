// Command seal-keyprovider is the ocicrypt keyprovider protocol binary containerd's imgcrypt
// stream processor runs to decrypt Seal-encrypted images on a node: it gets the image key from
// the ROT with the node's TPM evidence. See internal/keyprovider and docs/attestation.md.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/seal-dev/seal/internal/keyprovider"
	"github.com/seal-dev/seal/internal/version"
)

func main() {
	if version.Requested(os.Args[1:]) {
		fmt.Println(version.String("seal-keyprovider"))
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	code := keyprovider.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}
