// Command seal-init redeems a pod's Egg at its ROT and writes the pod's certificate, trust
// bundles and data keys into the pod's memory volume; with --watch it stays as a native sidecar
// and renews them. See docs/seal-init.md and internal/enroll.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/seal-dev/seal/internal/enroll"
	"github.com/seal-dev/seal/internal/version"
)

func main() {
	if version.Requested(os.Args[1:]) {
		fmt.Println(version.String("seal-init"))
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	code := enroll.Main(ctx, os.Args[1:], os.Getenv, os.Stderr)
	stop()
	os.Exit(code)
}
