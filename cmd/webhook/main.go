// Command seal-webhook is Seal's admission webhook: it injects seal-init into the pods that ask
// for a Seal identity. See internal/webhook and docs/webhook.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/seal-dev/seal/internal/webhook"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	code := webhook.Main(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}
