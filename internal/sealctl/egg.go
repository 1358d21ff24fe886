package sealctl

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/seal-dev/seal/internal/rotapi"
)

func (a *app) eggCommand() *cobra.Command {
	cmd := group("egg", "Mint, list and revoke Eggs",
		`An Egg is the enrollment credential of one (workload, peer): pods present it to the ROT to
get their certificate and the workload's data keys. Only the ROT can read or forge one. An Egg
is multi-use (every replica of an image uses the same one) until it expires or is revoked.`)
	cmd.Aliases = []string{"eggs"}
	cmd.AddCommand(a.eggMint(), a.eggList(), a.eggRevoke())
	return cmd
}

func (a *app) eggMint() *cobra.Command {
	var (
		peer      string
		ttl       time.Duration
		hostnames []string
		outFile   string
	)
	cmd := &cobra.Command{
		Use:   "mint WORKLOAD",
		Short: "Mint an Egg and print it on stdout",
		Long: `Mint an Egg for a peer of a workload. The Egg, and nothing else, is printed on stdout with a
trailing newline, so "> egg.txt" or "kubectl create secret" can take it; its id and expiry go
to stderr. Keep the Egg secret: whoever holds it can enroll as the peer until it expires or
is revoked ("sealctl egg revoke ID").

--hostname lists extra DNS names pods redeeming this Egg may ask for; the ROT grants only those
the workload's --route-host policy also allows. With -o json the Egg and its id, peer and
expiry are printed as one JSON object on stdout. --out FILE writes the Egg to FILE (mode 0600,
atomically) instead of stdout; a shell redirect creates the file with your umask (often 0644).`,
		Example: `  sealctl egg mint payments --peer api > egg.txt
  sealctl egg mint payments --peer api --out egg.txt
  sealctl egg mint payments --peer api --ttl 168h --hostname pay.apps.example.org
  kubectl create secret generic seal-egg-payments --from-literal=egg="$(sealctl egg mint payments)"`,
		Args:              args("WORKLOAD"),
		ValidArgsFunction: a.completeWorkload,
		RunE: func(cmd *cobra.Command, args []string) error {
			req := rotapi.MintRequest{Peer: peer, Hostnames: hostnames}
			if cmd.Flags().Changed("ttl") {
				if ttl <= 0 {
					return usagef("--ttl must be positive, not %s", ttl)
				}
				req.TTL = duration(ttl)
			}
			c, err := a.connect()
			if err != nil {
				return err
			}
			var out rotapi.MintResponse
			if err := c.do(cmd.Context(), http.MethodPost, rotapi.Path(rotapi.PathEggs, args[0]), req, &out); err != nil {
				return err
			}
			if out.Egg == "" {
				return fmt.Errorf("the ROT answered without an Egg")
			}
			if outFile != "" {
				err := writeFiles(filepath.Dir(outFile), []file{{filepath.Base(outFile), []byte(out.Egg + "\n"), 0o600}})
				if err != nil {
					return fmt.Errorf("minted Egg %s but could not save it (revoke it with: sealctl egg revoke %s): %w", out.ID, out.ID, err)
				}
				out.Egg = ""
			}
			if a.output == "json" {
				return a.show(out, nil)
			}
			a.hint("Minted Egg %s for workload %q peer %q, valid until %s (revoke with: sealctl egg revoke %s).",
				out.ID, out.Workload, out.Peer, when(out.NotAfter), out.ID)
			if outFile != "" {
				a.hint("Wrote it to %s (mode 0600).", outFile)
				return nil
			}
			_, err = fmt.Fprintln(a.stdout, out.Egg)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&peer, "peer", "", `the peer (role) the Egg enrolls as (default "any")`)
	f.DurationVar(&ttl, "ttl", 0, "how long the Egg can be redeemed (default 720h)")
	f.StringArrayVar(&hostnames, "hostname", nil, "an extra DNS name redeeming pods may ask for; repeatable")
	f.StringVar(&outFile, "out", "", "write the Egg to this file (mode 0600, atomically) instead of stdout")
	return cmd
}

func (a *app) eggList() *cobra.Command {
	return &cobra.Command{
		Use:               "list WORKLOAD",
		Aliases:           []string{"ls"},
		Short:             "List a workload's Eggs (ids and expiry, never the Eggs themselves)",
		Long:              `List the Eggs minted for a workload: id, peer, expiry, allowed hostnames and whether each is active, expired or revoked. The Eggs themselves are never shown again after minting.`,
		Example:           `  sealctl egg list payments`,
		Args:              args("WORKLOAD"),
		ValidArgsFunction: a.completeWorkload,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connect()
			if err != nil {
				return err
			}
			var eggs []rotapi.EggInfo
			if err := c.do(cmd.Context(), http.MethodGet, rotapi.Path(rotapi.PathEggs, args[0]), nil, &eggs); err != nil {
				return err
			}
			if eggs == nil {
				eggs = []rotapi.EggInfo{}
			}
			if len(eggs) == 0 && a.output == "table" {
				a.hint("No Eggs for workload %q (mint one with: sealctl egg mint %s).", args[0], args[0])
				return nil
			}
			now := a.now()
			return a.show(eggs, func(w io.Writer) {
				row(w, "ID", "PEER", "NOT AFTER", "HOSTNAMES", "STATUS")
				for _, e := range eggs {
					status := "active"
					switch {
					case e.Revoked:
						status = "revoked"
					case !e.NotAfter.IsZero() && now.After(e.NotAfter):
						status = "expired"
					}
					row(w, e.ID, e.Peer, when(e.NotAfter), list(e.Hostnames), status)
				}
			})
		},
	}
}

func (a *app) eggRevoke() *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an Egg by id",
		Long: `Revoke an Egg: the ROT refuses every later redemption of it. Certificates already issued from
it stay valid until they expire (pod certificates are short-lived). Find ids with
"sealctl egg list WORKLOAD" or in the output of "sealctl egg mint".`,
		Example: `  sealctl egg revoke 3f9c2a7e`,
		Args:    args("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connect()
			if err != nil {
				return err
			}
			if err := c.do(cmd.Context(), http.MethodDelete, rotapi.Path(rotapi.PathEgg, args[0]), nil, nil); err != nil {
				return err
			}
			return a.show(map[string]any{"id": args[0], "revoked": true}, func(w io.Writer) {
				fmt.Fprintf(w, "Egg %s revoked\n", args[0])
			})
		},
	}
}
