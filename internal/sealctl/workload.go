package sealctl

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/seal-dev/seal/internal/rotapi"
)

func (a *app) workloadCommand() *cobra.Command {
	cmd := group("workload", "Create, list, inspect and delete workloads",
		`A workload is a named group of pods that trust each other. The ROT gives each workload its
own Workload CA (an intermediate under the ROT CA) and age data keys. Pods join a workload by
redeeming an Egg minted for it (see "sealctl egg mint").`)
	cmd.Aliases = []string{"workloads", "wl"}
	cmd.AddCommand(a.workloadCreate(), a.workloadList(), a.workloadGet(), a.workloadDelete(), a.workloadBind(false), a.workloadBind(true))
	return cmd
}

func (a *app) workloadCreate() *cobra.Command {
	var (
		peers, federates, routes, binds []string
		certTTL                         time.Duration
		attestPolicy                    string
	)
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a workload with its Workload CA and first data key",
		Long: `Create a workload. The ROT creates its Workload CA and its first age data key.

--peer lists the roles pods of the workload may take (default: any role). --cert-ttl sets how
long pod certificates live (default 24h). --federates-with lists foreign trust domains whose
bundles the workload's pods receive. --route-host lists hostnames pods may ask to have in their
certificates (e.g. OpenShift passthrough Route hosts). --bind CLUSTER/NAMESPACE/SERVICEACCOUNT
lets only pods of that cluster, namespace and service account (* for any) redeem the
workload's Eggs, proving it with their ServiceAccount token (see sealctl workload bind).
--attest names an attestation policy: the workload's certificate and data keys are then
released only to pods whose machine's TPM quote matches it (see "sealctl attestation").`,
		Example: `  sealctl workload create payments
  sealctl workload create payments --peer api --peer db --cert-ttl 12h
  sealctl workload create payments --federates-with partner.example.org --route-host pay.apps.example.org
  sealctl workload create payments --bind prod-eu/payments/api`,
		Args: args("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			w := rotapi.Workload{Name: args[0], Peers: peers, FederatesWith: federates, RouteHosts: routes, Attest: attestPolicy}
			var err error
			if w.Bindings, err = parseBindings("--bind", binds); err != nil {
				return err
			}
			if cmd.Flags().Changed("cert-ttl") {
				if certTTL <= 0 {
					return usagef("--cert-ttl must be positive, not %s", certTTL)
				}
				w.CertTTL = duration(certTTL)
			}
			for _, p := range peers {
				if strings.TrimSpace(p) == "" {
					return usagef("--peer must not be empty")
				}
			}
			for _, td := range federates {
				if _, err := spiffeid.TrustDomainFromString(td); err != nil {
					return usagef("--federates-with %q is not a trust domain: %v", td, err)
				}
			}
			c, err := a.connect()
			if err != nil {
				return err
			}
			var out rotapi.Workload
			if err := c.do(cmd.Context(), http.MethodPost, rotapi.PathWorkloads, w, &out); err != nil {
				return err
			}
			return a.showWorkload(&out)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&peers, "peer", nil, "a peer (role) pods of the workload may take; repeat for several")
	f.DurationVar(&certTTL, "cert-ttl", 0, "lifetime of pod certificates (default 24h)")
	f.StringArrayVar(&federates, "federates-with", nil, "a foreign trust domain whose bundle the pods get; repeatable")
	f.StringArrayVar(&routes, "route-host", nil, "a hostname pods may ask to have in their certificate; repeatable")
	f.StringArrayVar(&binds, "bind", nil, "CLUSTER/NAMESPACE/SERVICEACCOUNT whose pods may redeem (SERVICEACCOUNT may be *); repeatable")
	f.StringVar(&attestPolicy, "attest", "", "attestation policy pods' TPM quotes must satisfy (see sealctl attestation policy)")
	return cmd
}

func (a *app) workloadList() *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the workloads",
		Long:    `List the ROT's workloads with their peers, certificate lifetime and current data key.`,
		Example: `  sealctl workload list
  sealctl workload list -o json | jq -r '.[].name'`,
		Args: args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.connect()
			if err != nil {
				return err
			}
			var ws []rotapi.Workload
			if err := c.do(cmd.Context(), http.MethodGet, rotapi.PathWorkloads, nil, &ws); err != nil {
				return err
			}
			if ws == nil {
				ws = []rotapi.Workload{}
			}
			if len(ws) == 0 && a.output == "table" {
				a.hint("No workloads yet (create one with: sealctl workload create NAME).")
				return nil
			}
			return a.show(ws, func(w io.Writer) {
				row(w, "NAME", "PEERS", "CERT TTL", "DATA KEY", "FEDERATES WITH", "CREATED")
				for _, x := range ws {
					row(w, x.Name, list(x.Peers), cmp.Or(x.CertTTL, "default"), strconv.Itoa(x.DataKeyIndex), list(x.FederatesWith), when(x.Created))
				}
			})
		},
	}
}

func (a *app) workloadGet() *cobra.Command {
	return &cobra.Command{
		Use:               "get NAME",
		Short:             "Show one workload",
		Long:              `Show one workload: its policy (peers, certificate lifetime, federation, route hosts), the fingerprint of its Workload CA and its current data key index.`,
		Example:           `  sealctl workload get payments -o json`,
		Args:              args("NAME"),
		ValidArgsFunction: a.completeWorkload,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connect()
			if err != nil {
				return err
			}
			var out rotapi.Workload
			if err := c.do(cmd.Context(), http.MethodGet, rotapi.Path(rotapi.PathWorkload, args[0]), nil, &out); err != nil {
				return err
			}
			return a.showWorkload(&out)
		},
	}
}

func (a *app) showWorkload(x *rotapi.Workload) error {
	return a.show(x, func(w io.Writer) {
		row(w, "Name:", x.Name)
		row(w, "Peers:", list(x.Peers))
		row(w, "Cert TTL:", cmp.Or(x.CertTTL, "default (24h)"))
		row(w, "Federates with:", list(x.FederatesWith))
		row(w, "Route hosts:", list(x.RouteHosts))
		row(w, "Bindings:", bindingList(x.Bindings))
		row(w, "Attest:", orDash(x.Attest))
		row(w, "CA fingerprint:", orDash(x.CAFingerprint))
		row(w, "Data key:", strconv.Itoa(x.DataKeyIndex))
		row(w, "Created:", when(x.Created))
	})
}

func (a *app) workloadDelete() *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a workload, its CA and its data keys",
		Long: `Delete a workload. Its Workload CA and its data keys are destroyed: pods can no longer redeem
its Eggs, and data sealed to it can no longer be decrypted with keys from the ROT.

sealctl asks you to type the workload name to confirm (read from stdin); --yes skips the
question for scripts.`,
		Example: `  sealctl workload delete payments
  sealctl workload delete payments --yes`,
		Args:              args("NAME"),
		ValidArgsFunction: a.completeWorkload,
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			c, err := a.connect()
			if err != nil {
				return err
			}
			if !yes {
				fmt.Fprintf(a.stderr, "Deleting workload %q destroys its CA and data keys; data sealed to it cannot be decrypted any more.\nType the workload name to confirm: ", name)
				line, _ := bufio.NewReader(a.stdin).ReadString('\n')
				if strings.TrimSpace(line) != name {
					return usagef("workload %q not deleted: not confirmed (type its name, or pass --yes)", name)
				}
			}
			if err := c.do(cmd.Context(), http.MethodDelete, rotapi.Path(rotapi.PathWorkload, name), nil, nil); err != nil {
				return err
			}
			return a.show(map[string]any{"name": name, "deleted": true}, func(w io.Writer) {
				fmt.Fprintf(w, "workload %q deleted\n", name)
			})
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}

// completeWorkload completes the first argument with the ROT's workload names when the ROT is
// configured and answers quickly; otherwise it offers nothing.
func (a *app) completeWorkload(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	c, err := a.connect()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	c.timeout = min(c.timeout, 5*time.Second)
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	var ws []rotapi.Workload
	if c.do(ctx, http.MethodGet, rotapi.PathWorkloads, nil, &ws) != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	names := make([]string, 0, len(ws))
	for _, w := range ws {
		names = append(names, w.Name)
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}
