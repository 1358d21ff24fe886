package sealctl

import (
	"fmt"
	"io"
	"net/http"

	"github.com/spf13/cobra"

	"github.com/seal-dev/seal/internal/invite"
	"github.com/seal-dev/seal/internal/rotapi"
)

func (a *app) federationCommand() *cobra.Command {
	cmd := group("federation", "First contact with another trust domain: invite, join",
		`Federate two trust domains without carrying bundle files: an admin of one ROT issues an
invite, an admin of the other joins with it. The invite (one line) holds the inviting ROT's
URL, a digest pinning its bundle, and a single-use secret. The joining ROT fetches the bundle,
accepts it only when it matches the pin, and presents the invite over TLS authenticated by that
bundle; each ROT then holds the other's bundle with an https_spiffe endpoint and refreshes it
from then on (sealctl bundle list). Treat an invite as a password until it is used or expires.

A reused, expired or tampered invite is refused, and says so. See docs/federation.md.`)
	cmd.AddCommand(a.federationInvite(), a.federationJoin(), a.federationInvites())
	return cmd
}

func (a *app) federationInvite() *cobra.Command {
	var ttl string
	cmd := &cobra.Command{
		Use:   "invite [--ttl 1h]",
		Short: "Issue a single-use invite for another trust domain to join (printed on stdout)",
		Long: `Issue an invite to federate with this ROT's trust domain and print it on stdout. Hand it to
an admin of the other ROT, who runs "sealctl federation join" with it. It can be used once,
until --ttl has passed (1m to 168h).`,
		Example: `  sealctl --rot https://rot.alpha.example:8443 --admin alpha-admin federation invite --ttl 30m > invite.txt`,
		Args:    args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.connect()
			if err != nil {
				return err
			}
			var out rotapi.InviteResponse
			if err := c.do(cmd.Context(), http.MethodPost, rotapi.PathInvites, rotapi.InviteRequest{TTL: ttl}, &out); err != nil {
				return err
			}
			if a.output == "json" {
				return a.show(out, nil)
			}
			fmt.Fprintln(a.stdout, out.Invite)
			a.hint("sealctl: invite %s: single use, expires %s; on the other ROT: sealctl federation join FILE", out.ID, when(out.NotAfter))
			return nil
		},
	}
	cmd.Flags().StringVar(&ttl, "ttl", "", "how long the invite can be used (default 1h, at most 168h)")
	return cmd
}

func (a *app) federationJoin() *cobra.Command {
	return &cobra.Command{
		Use:   "join FILE",
		Short: "Join the trust domain that issued the invite in FILE (- for stdin)",
		Long: `Make the ROT of --rot/--admin (not the inviting one) federate with the trust domain that
issued the invite. The invite is checked here first (form, check value, expiry), then by both
ROTs. On success both hold each other's bundle and refresh it from the other's endpoint.`,
		Example: `  sealctl --rot https://rot.beta.example:8443 --admin beta-admin federation join invite.txt`,
		Args:    args("FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			text, err := a.readBundleFile(args[0])
			if err != nil {
				return err
			}
			inv, err := invite.Parse(string(text))
			if err == nil {
				err = inv.CheckExpiry(a.now())
			}
			if err != nil {
				return fmt.Errorf("%s: %w; fix: ask the inviting ROT's admin for a new invite (sealctl federation invite)", args[0], err)
			}
			c, err := a.connect()
			if err != nil {
				return err
			}
			var fb rotapi.FederatedBundle
			if err := c.do(cmd.Context(), http.MethodPost, rotapi.PathJoinAdmin, rotapi.JoinAdminRequest{Invite: string(text)}, &fb); err != nil {
				return err
			}
			return a.show(fb, func(w io.Writer) {
				row(w, "Joined:", fb.TrustDomain)
				row(w, "Endpoint:", fb.BundleEndpointURL+" ("+fb.EndpointProfile+", "+fb.EndpointSPIFFEID+")")
				row(w, "Sequence:", fmt.Sprint(fb.SequenceNumber))
			})
		},
	}
}

func (a *app) federationInvites() *cobra.Command {
	return &cobra.Command{
		Use:   "invites",
		Short: "List the invites this ROT issued and who used them",
		Long: `List the invites this ROT issued: id, expiry, and the trust domain that used each (an invite
is used once). The secrets are never shown again: the ROT keeps only their hashes.`,
		Example: `  sealctl federation invites -o json`,
		Args:    args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.connect()
			if err != nil {
				return err
			}
			var list []rotapi.InviteInfo
			if err := c.do(cmd.Context(), http.MethodGet, rotapi.PathInvites, nil, &list); err != nil {
				return err
			}
			return a.show(list, func(w io.Writer) {
				row(w, "ID", "EXPIRES", "USED BY")
				for _, i := range list {
					used := "-"
					if i.Used != nil {
						used = i.UsedBy + " at " + when(*i.Used)
					}
					row(w, i.ID, when(i.NotAfter), used)
				}
			})
		},
	}
}
