package sealctl

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/seal-dev/seal/internal/verify"
)

// errDenied is the failure of `sealctl verify` when the policy does not approve the image.
var errDenied = errors.New("image not approved")

func (a *app) verifyCommand() *cobra.Command {
	var policyFile string
	cmd := &cobra.Command{
		Use:   "verify IMAGE --policy FILE",
		Short: "Check an image against image policies offline, as seal-webhook would",
		Long: `Decide whether IMAGE may run under the ImagePolicy and ApprovedImage documents in FILE
(YAML, several documents separated by ---), exactly as seal-webhook's verify step decides in an
enforced namespace: the tag is resolved to its digest at the registry (credentials from your
docker config), and the image is approved when an ApprovedImage names that digest or an
authority of a matching ImagePolicy verifies a cosign signature on it (legacy .sig tag or
sigstore bundle). No cluster and no ROT are needed: run it in CI before you deploy.

Exit codes: 0 approved (a policy in warn mode prints its warning on stderr), 1 not approved or
the registry could not be read, 2 usage error or a policy file that cannot be read.`,
		Example: `  sealctl verify registry.example.com/team/app:v1 --policy policies.yaml
  sealctl verify registry.example.com/team/app@sha256:... --policy policies.yaml -o json`,
		Args: args("IMAGE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if policyFile == "" {
				return usagef("verify needs --policy FILE (ImagePolicy and ApprovedImage YAML)")
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), a.timeout)
			defer cancel()
			d, err := verify.CheckFile(ctx, args[0], policyFile)
			if err != nil {
				return usageError{err}
			}
			if err := a.show(d, func(w io.Writer) {
				row(w, "IMAGE", "DIGEST", "APPROVED", "REASON", "BY")
				by := "-"
				if d.Policy != "" {
					by = d.Policy + "/" + d.Authority
				}
				row(w, d.Image, orDash(d.Digest), fmt.Sprint(d.Allowed), string(d.Reason), by)
			}); err != nil {
				return err
			}
			switch {
			case !d.Allowed:
				return fmt.Errorf("%w: %s", errDenied, d.Message)
			case d.Warning:
				a.hint("warning: %s", d.Message)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&policyFile, "policy", "", "YAML file of ImagePolicy and ApprovedImage documents")
	_ = cmd.MarkFlagFilename("policy", "yaml", "yml")
	return cmd
}
