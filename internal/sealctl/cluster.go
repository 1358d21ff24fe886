package sealctl

import (
	"cmp"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/seal-dev/seal/internal/podtoken"
	"github.com/seal-dev/seal/internal/rotapi"
)

func (a *app) clusterCommand() *cobra.Command {
	cmd := group("cluster", "Add, list, inspect and delete the clusters whose pods may redeem",
		`A cluster is a Kubernetes cluster whose projected ServiceAccount tokens the ROT verifies: the
token issuer, the audience, and the keys the tokens are signed with (a JWKS, given as a file or
fetched and refreshed from a URL). A workload bound to a cluster (sealctl workload bind) is
redeemed only by pods of the bound namespace and service account, which prove it with their
token besides the Egg. See docs/binding.md.`)
	cmd.Aliases = []string{"clusters"}
	cmd.AddCommand(a.clusterAdd(), a.clusterList(), a.clusterGet(), a.clusterDelete())
	return cmd
}

func (a *app) clusterAdd() *cobra.Command {
	var in rotapi.Cluster
	var jwksFile, caFile string
	cmd := &cobra.Command{
		Use:   "add NAME --issuer URL (--jwks FILE | --jwks-url URL [--jwks-ca FILE])",
		Short: "Add (or replace) a cluster whose pods may redeem",
		Long: `Add a cluster, or replace the one of that name. --issuer is the cluster's ServiceAccount token
issuer (kubectl get --raw /.well-known/openid-configuration | jq -r .issuer). The keys come
from one of:

  --jwks FILE       the key set document, for a cluster whose issuer is private:
                    kubectl get --raw /openid/v1/jwks > prod.jwks   ("-" reads stdin)
                    Add it again when the cluster's signing key changes.
  --jwks-url URL    an https URL the ROT fetches the key set from and refreshes every 5
                    minutes (with backoff after failures, keeping the last good keys);
                    --jwks-ca FILE is the PEM of the CAs its server certificate chains to.

--audience is the audience the tokens must carry (default seal-rot, seal-webhook's
--token-audience).`,
		Example: `  kubectl get --raw /openid/v1/jwks > prod-eu.jwks
  sealctl cluster add prod-eu --issuer https://kubernetes.default.svc.cluster.local --jwks prod-eu.jwks
  sealctl cluster add gke-prod --issuer https://container.googleapis.com/v1/projects/p/locations/europe-west1/clusters/prod \
    --jwks-url https://container.googleapis.com/v1/projects/p/locations/europe-west1/clusters/prod/jwks`,
		Args: args("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			in.Name = args[0]
			switch {
			case in.Issuer == "":
				return usagef("--issuer is required (kubectl get --raw /.well-known/openid-configuration | jq -r .issuer)")
			case (jwksFile == "") == (in.JWKSURL == ""):
				return usagef("give exactly one of --jwks FILE (kubectl get --raw /openid/v1/jwks) or --jwks-url URL")
			case caFile != "" && in.JWKSURL == "":
				return usagef("--jwks-ca is only for --jwks-url")
			}
			if jwksFile != "" {
				doc, err := a.readBundleFile(jwksFile)
				if err != nil {
					return err
				}
				if _, err := podtoken.ParseJWKS(doc); err != nil {
					return usagef("--jwks %s: %v", jwksFile, err)
				}
				in.JWKS = string(doc)
			}
			if in.JWKSURL != "" {
				if err := podtoken.CheckURL(in.JWKSURL); err != nil {
					return usagef("--jwks-url: %v", err)
				}
			}
			if caFile != "" {
				pem, err := a.readBundleFile(caFile)
				if err != nil {
					return err
				}
				in.JWKSCA = string(pem)
			}
			c, err := a.connect()
			if err != nil {
				return err
			}
			var out rotapi.Cluster
			if err := c.do(cmd.Context(), http.MethodPut, rotapi.Path(rotapi.PathCluster, in.Name), in, &out); err != nil {
				return err
			}
			if out.LastError != "" {
				a.hint("Warning: fetching the JWKS failed: %s (the ROT retries with backoff; see sealctl cluster get %s)", out.LastError, out.Name)
			}
			return a.showCluster(&out)
		},
	}
	f := cmd.Flags()
	f.StringVar(&in.Issuer, "issuer", "", "the cluster's ServiceAccount token issuer (iss)")
	f.StringVar(&jwksFile, "jwks", "", `JWKS document file (kubectl get --raw /openid/v1/jwks); "-" reads stdin`)
	f.StringVar(&in.JWKSURL, "jwks-url", "", "https URL to fetch and refresh the JWKS from")
	f.StringVar(&caFile, "jwks-ca", "", "PEM file of the CAs the JWKS URL's certificate chains to (default: system roots)")
	f.StringVar(&in.Audience, "audience", "", "audience the tokens must carry (default seal-rot)")
	return cmd
}

func (a *app) clusterList() *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the clusters",
		Long:    `List the clusters whose pods may redeem, with their issuer, keys and the workloads bound to them.`,
		Example: `  sealctl cluster list`,
		Args:    args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.connect()
			if err != nil {
				return err
			}
			var cs []rotapi.Cluster
			if err := c.do(cmd.Context(), http.MethodGet, rotapi.PathClusters, nil, &cs); err != nil {
				return err
			}
			if cs == nil {
				cs = []rotapi.Cluster{}
			}
			if len(cs) == 0 && a.output == "table" {
				a.hint("No clusters yet (add one with: sealctl cluster add NAME --issuer URL --jwks FILE).")
				return nil
			}
			return a.show(cs, func(w io.Writer) {
				row(w, "NAME", "ISSUER", "AUDIENCE", "KEYS", "SOURCE", "BOUND BY", "LAST ERROR")
				for _, x := range cs {
					row(w, x.Name, x.Issuer, x.Audience, strconv.Itoa(x.Keys), cmp.Or(x.JWKSURL, "inline"), list(x.BoundBy), orDash(x.LastError))
				}
			})
		},
	}
}

func (a *app) clusterGet() *cobra.Command {
	return &cobra.Command{
		Use:   "get NAME",
		Short: "Show one cluster, with the last JWKS refresh and its error",
		Long:  `Show one cluster: its issuer, audience, where its keys come from, how many signing keys are in use, the last successful refresh and the last error (a failed refresh keeps the last good keys), and the workloads bound to it.`,
		Example: `  sealctl cluster get prod-eu
  sealctl cluster get prod-eu -o json | jq -r .jwks`,
		Args: args("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connect()
			if err != nil {
				return err
			}
			var out rotapi.Cluster
			if err := c.do(cmd.Context(), http.MethodGet, rotapi.Path(rotapi.PathCluster, args[0]), nil, &out); err != nil {
				return err
			}
			return a.showCluster(&out)
		},
	}
}

func (a *app) showCluster(x *rotapi.Cluster) error {
	return a.show(x, func(w io.Writer) {
		row(w, "Name:", x.Name)
		row(w, "Issuer:", x.Issuer)
		row(w, "Audience:", x.Audience)
		row(w, "JWKS:", cmp.Or(x.JWKSURL, "inline"))
		row(w, "Signing keys:", strconv.Itoa(x.Keys))
		if x.JWKSURL != "" {
			refreshed := "-"
			if x.LastRefreshed != nil {
				refreshed = when(*x.LastRefreshed)
			}
			row(w, "Last refreshed:", refreshed)
		}
		row(w, "Last error:", orDash(x.LastError))
		row(w, "Bound by:", list(x.BoundBy))
		row(w, "Created:", when(x.Created))
	})
}

func (a *app) clusterDelete() *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a cluster no workload is bound to",
		Long: `Delete a cluster. The ROT refuses while a workload is bound to it (its pods could no longer
redeem): unbind them first with sealctl workload unbind.`,
		Example: `  sealctl cluster delete prod-eu`,
		Args:    args("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connect()
			if err != nil {
				return err
			}
			if err := c.do(cmd.Context(), http.MethodDelete, rotapi.Path(rotapi.PathCluster, args[0]), nil, nil); err != nil {
				return err
			}
			return a.show(map[string]any{"name": args[0], "deleted": true}, func(w io.Writer) {
				fmt.Fprintf(w, "cluster %q deleted\n", args[0])
			})
		},
	}
}

// parseBindings parses --bind values.
func parseBindings(flag string, vs []string) ([]rotapi.Binding, error) {
	var out []rotapi.Binding
	for _, v := range vs {
		b, err := rotapi.ParseBinding(v)
		if err != nil {
			return nil, usagef("%s %q must be CLUSTER/NAMESPACE/SERVICEACCOUNT (SERVICEACCOUNT may be *)", flag, v)
		}
		out = append(out, b)
	}
	return out, nil
}

func bindingList(bs []rotapi.Binding) string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b.String()
	}
	return list(out)
}

func (a *app) workloadBind(unbind bool) *cobra.Command {
	use, short, long := "bind", "Let pods of a cluster, namespace and service account redeem a workload's Eggs",
		`Bind a workload to CLUSTER/NAMESPACE/SERVICEACCOUNT (SERVICEACCOUNT may be *, any service
account of the namespace). Once a workload has a binding, its Eggs redeem only together with a
projected ServiceAccount token of a bound pod (seal-webhook mounts one into seal-init); the Egg
alone is refused (401). A workload without bindings redeems with the Egg alone, as before.
Migrate by binding first, then rolling pods onto an injector that mounts the token.`
	example := `  sealctl workload bind payments prod-eu/payments/api
  sealctl workload bind payments 'prod-eu/batch/*'`
	if unbind {
		use, short, long = "unbind", "Remove a binding of a workload",
			`Remove a binding. When the last binding goes, the workload's Eggs redeem alone again.`
		example = `  sealctl workload unbind payments prod-eu/payments/api`
	}
	return &cobra.Command{
		Use:               use + " NAME CLUSTER/NAMESPACE/SERVICEACCOUNT",
		Short:             short,
		Long:              long,
		Example:           example,
		Args:              args("NAME", "CLUSTER/NAMESPACE/SERVICEACCOUNT"),
		ValidArgsFunction: a.completeWorkload,
		RunE: func(cmd *cobra.Command, args []string) error {
			bs, err := parseBindings("binding", args[1:])
			if err != nil {
				return err
			}
			req := rotapi.BindRequest{Bind: bs}
			if unbind {
				req = rotapi.BindRequest{Unbind: bs}
			}
			c, err := a.connect()
			if err != nil {
				return err
			}
			var out rotapi.Workload
			if err := c.do(cmd.Context(), http.MethodPost, rotapi.Path(rotapi.PathBindings, args[0]), req, &out); err != nil {
				return err
			}
			return a.showWorkload(&out)
		},
	}
}
