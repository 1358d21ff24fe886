// Command sealctl is Seal's admin CLI; see internal/sealctl and docs/sealctl.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/seal-dev/seal/internal/sealctl"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := sealctl.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
