package route

import (
	"context"
	"flag"
	"net/http"

	"github.com/seal-dev/seal/internal/webhook"
)

// Extension runs the passthrough-Route controller inside seal-webhook (flag
// --passthrough-routes, default true). Where the Route API is not served it stays off.
func Extension() webhook.Extension {
	enabled := true
	return webhook.Extension{
		Flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&enabled, "passthrough-routes", true, "create OpenShift passthrough Routes for Services annotated "+AnnotationHost)
		},
		Start: func(ctx context.Context, h webhook.Host) (map[string]http.Handler, error) {
			if enabled {
				go func() {
					if err := Run(ctx, h.Config); err != nil {
						h.Log.Error("passthrough-route controller stopped", "err", err)
					}
				}()
			}
			return nil, nil
		},
	}
}
