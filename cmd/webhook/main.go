// Command seal-webhook is Seal's admission webhook: it injects seal-init into the pods that ask
// for a Seal identity, pins and verifies images against ImagePolicies and ApprovedImages, and
// creates OpenShift passthrough Routes. See internal/webhook and docs/webhook.md.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/seal-dev/seal/internal/imageadmission"
	"github.com/seal-dev/seal/internal/route"
	"github.com/seal-dev/seal/internal/version"
	"github.com/seal-dev/seal/internal/webhook"
)

func main() {
	if version.Requested(os.Args[1:]) {
		fmt.Println(version.String("seal-webhook"))
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	code := webhook.Main(ctx, os.Args[1:], os.Stderr, imageadmission.Extension(), route.Extension())
	stop()
	os.Exit(code)
}
