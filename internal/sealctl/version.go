package sealctl

import (
	"fmt"
	"io"
	"net/http"

	"github.com/spf13/cobra"

	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/version"
)

// versions is what `sealctl version -o json` prints.
type versions struct {
	Client string `json:"client"`
	ROT    string `json:"rot,omitempty"`
}

func (a *app) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print sealctl's version and the ROT's",
		Long: `Print sealctl's version and, when a ROT is given (--rot/--admin or SEAL_ROT/SEAL_ADMIN),
the version seal-rot reports on /healthz. A version skew between them is supported within one
minor version (docs/upgrade.md). "sealctl --version" prints sealctl's alone.`,
		Example: `  sealctl version
  sealctl version -o json`,
		Args: args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := versions{Client: version.Get()}
			if a.rotURL == "" && a.adminDir == "" && a.getenv(EnvROT) == "" && a.getenv(EnvAdmin) == "" {
				a.hint("no ROT given (--rot/--admin or %s/%s): showing sealctl's version only", EnvROT, EnvAdmin)
			} else {
				c, err := a.connect()
				if err != nil {
					return err
				}
				var health struct {
					Version string `json:"version"`
				}
				if err := c.do(cmd.Context(), http.MethodGet, rotapi.PathHealthz, nil, &health); err != nil {
					return err
				}
				v.ROT = health.Version
				if v.ROT == "" {
					v.ROT = "unknown (older than v0.1.0)"
				}
			}
			return a.show(v, func(w io.Writer) {
				fmt.Fprintf(w, "sealctl:\t%s\n", v.Client)
				if v.ROT != "" {
					fmt.Fprintf(w, "seal-rot:\t%s\n", v.ROT)
				}
			})
		},
	}
}
