// Command seal-agent is seal-init's rotating sidecar that also serves the SPIFFE Workload API
// on a Unix socket in the pod (--workload-api-socket). It ships in the seal-init image beside
// seal-init. See docs/workload-api.md and internal/agent.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/seal-dev/seal/internal/agent"
	"github.com/seal-dev/seal/internal/enroll"
	"github.com/seal-dev/seal/internal/version"
)

func main() {
	if version.Requested(os.Args[1:]) {
		fmt.Println(version.String("seal-agent"))
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	code := enroll.MainWith(ctx, "seal-agent", agent.Extension, os.Args[1:], os.Getenv, os.Stderr)
	stop()
	os.Exit(code)
}
