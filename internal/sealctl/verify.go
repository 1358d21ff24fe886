package sealctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

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
docker config), and the image is approved when an ApprovedImage names that digest, or when
EVERY ImagePolicy that matches it approves it: one of that policy's authorities verifies a
cosign signature on the digest (legacy .sig tag or sigstore bundle). A failing warn-mode policy
only warns. No cluster and no ROT are needed: run it in CI before you deploy. A tag is checked
at its current digest; in the cluster the pin webhook makes the pod run that digest.

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
			a.warnUnanchored(policyFile)
			if err := a.show(d, func(w io.Writer) {
				row(w, "IMAGE", "DIGEST", "APPROVED", "REASON", "BY")
				by := "-"
				switch {
				case len(d.Approvals) > 0:
					parts := make([]string, len(d.Approvals))
					for i, ap := range d.Approvals {
						parts[i] = ap.Policy + "/" + ap.Authority
					}
					by = strings.Join(parts, ",")
				case d.Policy != "":
					by = d.Policy
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

// warnUnanchored prints the keyless identity regexps of the policy file that Seal anchors
// itself (the webhook reports them in the RegExpsAnchored condition).
func (a *app) warnUnanchored(policyFile string) {
	f, err := os.Open(policyFile)
	if err != nil {
		return
	}
	defer f.Close()
	pols, err := verify.ReadPolicies(f)
	if err != nil {
		return
	}
	for i := range pols.Policies {
		for _, re := range verify.UnanchoredRegExps(&pols.Policies[i]) {
			a.hint("warning: ImagePolicy %s: %s is matched whole, as ^(?:…)$; write ^…$ to say so", pols.Policies[i].Name, re)
		}
	}
}
