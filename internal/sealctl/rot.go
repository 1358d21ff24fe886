package sealctl

import (
	"io"
	"net/http"

	"github.com/spf13/cobra"

	"github.com/seal-dev/seal/internal/rotapi"
)

func (a *app) rotCommand() *cobra.Command {
	cmd := group("rot", "Drain and resume the ROT (before and after moving it)",
		`A drained ROT refuses every admin change (409 Conflict, naming the drain) while pods keep
redeeming Eggs and peers keep fetching its bundle. Drain before "seal-rot migrate" copies the
state of a running ROT, so no change made meanwhile is lost; the drain is part of the state, so
the moved ROT starts drained too: check it, then resume it. See docs/migration.md.`)
	cmd.AddCommand(a.rotDrain(),
		a.rotCall("resume", "Accept admin changes again", `End a drain: the ROT accepts admin changes again and resumes its own CA rotation. Resuming a
ROT that is not drained does nothing. After "seal-rot migrate", resume the moved ROT (it
arrives drained) once it serves at the ROT's URL.`, "  sealctl rot resume", http.MethodDelete),
		a.rotCall("status", "Show whether the ROT is drained", `Show whether the ROT is drained, and if so since when, why and by which admin certificate.`,
			"  sealctl rot status -o json", http.MethodGet))
	return cmd
}

func (a *app) rotDrain() *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "drain [--reason TEXT]",
		Short: "Refuse admin changes; redemption and the bundle endpoint go on",
		Long: `Mark the ROT drained in its state: every admin request but reads is answered 409 Conflict
until "sealctl rot resume". Pods keep redeeming, the bundle endpoint keeps serving, and the
ROT makes no CA rotation of its own meanwhile. Every replica of a --kube ROT sees the drain
within seconds; it survives restarts and "seal-rot migrate".`,
		Example: `  sealctl rot drain --reason "moving into the cluster"
  sealctl egg mint payments     # refused: 409, the ROT is drained
  sealctl rot resume`,
		Args: args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.drainCall(cmd, http.MethodPost, rotapi.DrainRequest{Reason: reason})
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why the ROT is drained (shown in every refusal)")
	return cmd
}

func (a *app) rotCall(use, short, long, example, method string) *cobra.Command {
	return &cobra.Command{
		Use: use, Short: short, Long: long, Example: example, Args: args(),
		RunE: func(cmd *cobra.Command, _ []string) error { return a.drainCall(cmd, method, nil) },
	}
}

func (a *app) drainCall(cmd *cobra.Command, method string, body any) error {
	c, err := a.connect()
	if err != nil {
		return err
	}
	var st rotapi.DrainStatus
	if err := c.do(cmd.Context(), method, rotapi.PathDrain, body, &st); err != nil {
		return err
	}
	return a.show(st, func(w io.Writer) {
		if !st.Drained {
			row(w, "Drained:", "no (admin changes accepted)")
			return
		}
		row(w, "Drained:", "yes (admin changes refused; redemption goes on)")
		row(w, "Since:", when(*st.Since))
		if st.Reason != "" {
			row(w, "Reason:", st.Reason)
		}
		if st.By != "" {
			row(w, "By:", st.By)
		}
	})
}
