package enroll

import (
	"context"
	"log/slog"
)

// Extension is a service that runs beside the rotating sidecar: seal-agent's SPIFFE Workload
// API. It starts once the first identity is written (with --watch and --workload-api-socket)
// and returns notify, which receives that identity and every renewal, and stop, called when the
// sidecar ends. seal-init itself has none, so it does not link gRPC.
type Extension func(ctx context.Context, e *Enroller, o ExtensionOptions) (notify func(*Identity), stop func(), err error)

// ExtensionOptions are the sidecar flags an Extension uses.
type ExtensionOptions struct {
	// Socket is --workload-api-socket; GID is --gid.
	Socket string
	GID    int
	Log    *slog.Logger
}

// ROTCA is the PEM of the ROT CA(s) the Egg names: what a client of the ROT trusts.
func (e *Enroller) ROTCA() string { return e.outer.ROTCA }
