package sealctl

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/seal-dev/seal/internal/kubeconfig"
)

func (a *app) kubeconfigCommand() *cobra.Command {
	cmd := group("kubeconfig", "Issue, renew and show kubeconfigs for people and pipelines (Kubernetes CSRs)",
		`Give a person or a CI pipeline access to one or several Kubernetes clusters with client
certificates from each cluster's own CA, the way EMCO's distributed cloud manager does: a
certificates.k8s.io/v1 CertificateSigningRequest per cluster (signer
kubernetes.io/kube-apiserver-client, usages [client auth], expirationSeconds), approved through
the /approval subresource, the certificate collected with a watch, and one kubeconfig with a
context per cluster. The private key (ECDSA P-256) is generated here and never leaves this
machine. What the user may do is up to RBAC: bind a Role or ClusterRole to the user or to one of
its groups.

These commands talk to Kubernetes, not to the ROT: --rot and --admin are not used; --timeout
bounds the wait for each cluster's certificate.`)
	cmd.AddCommand(a.kubeconfigIssue(), a.kubeconfigRenew(), a.kubeconfigShow())
	return cmd
}

// adminFlags are the administrator kubeconfigs that reach the clusters.
type adminFlags struct{ files, contexts []string }

func (f *adminFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringArrayVar(&f.files, "kubeconfig", nil, "administrator kubeconfig of a cluster (repeat for several clusters; default $KUBECONFIG or ~/.kube/config)")
	cmd.Flags().StringArrayVar(&f.contexts, "context", nil, "context in the administrator kubeconfig (repeat: several contexts of one file, or one per --kubeconfig in order; default the current context)")
}

func (f *adminFlags) targets() ([]kubeconfig.Target, error) {
	t, err := kubeconfig.LoadTargets(f.files, f.contexts)
	if err != nil {
		return nil, usageError{err}
	}
	return t, nil
}

func (a *app) kubeconfigIssue() *cobra.Command {
	var (
		admin adminFlags
		o     = kubeconfig.Options{Signer: kubeconfig.DefaultSigner, TTL: 24 * time.Hour}
		out   string
		force bool
	)
	cmd := &cobra.Command{
		Use:   "issue --user NAME [--group G]... --out FILE",
		Short: "Get a client certificate from every cluster and write one kubeconfig",
		Long: `For each cluster (--kubeconfig/--context, as an administrator allowed to create, approve and
delete CSRs): create a CertificateSigningRequest for CN=NAME, O=GROUP..., approve it (unless
--no-approve: then someone else, a person or a policy, must approve it within --timeout),
watch it until the signer sets status.certificate, and delete it (unless --keep-csr).

FILE gets one kubeconfig (mode 0600, written atomically) with a cluster, a user and a context
per cluster, named after the administrator's context; the first is current. Nothing is
written unless every cluster issued a certificate. A denied or failed CSR, nobody approving,
and no signer answering are errors naming the cluster and the CSR.`,
		Example: `  sealctl kubeconfig issue --kubeconfig east.kubeconfig --kubeconfig west.kubeconfig \
      --user ci-deployer --group seal:deployers --ttl 2h --out ci.kubeconfig
  kubectl --kubeconfig ci.kubeconfig --context east get pods -n payments`,
		Args: args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case o.User == "":
				return usagef("kubeconfig issue needs --user NAME, the Kubernetes user name of the certificate")
			case out == "":
				return usagef("kubeconfig issue needs --out FILE, where to write the kubeconfig")
			case o.TTL < kubeconfig.MinTTL:
				return usagef("--ttl must be at least %s (the shortest Kubernetes signers issue), not %s", duration(kubeconfig.MinTTL), o.TTL)
			}
			if !force {
				if _, err := os.Stat(out); err == nil {
					return usagef("%s exists: renew it with sealctl kubeconfig renew %s, or pass --force to replace it", out, out)
				}
			}
			targets, err := admin.targets()
			if err != nil {
				return err
			}
			o.Timeout, o.Log = a.timeout, a.stderr
			cfg, err := kubeconfig.Issue(cmd.Context(), targets, o)
			if err != nil {
				return err
			}
			if err := kubeconfig.WriteFile(out, cfg); err != nil {
				return err
			}
			names := make([]string, len(targets))
			for i, t := range targets {
				names[i] = t.Name
			}
			a.hint("wrote %s: user %s, groups %s, contexts %s", out, o.User, list(o.Groups), strings.Join(names, ","))
			return nil
		},
	}
	admin.add(cmd)
	f := cmd.Flags()
	f.StringVar(&o.User, "user", "", "Kubernetes user name: the certificate's common name")
	f.StringArrayVar(&o.Groups, "group", nil, "Kubernetes group: the certificate's organization (repeat for several)")
	f.DurationVar(&o.TTL, "ttl", o.TTL, "lifetime asked for (spec.expirationSeconds; at least 10m, the signer may shorten it)")
	f.StringVar(&o.Signer, "signer", o.Signer, "signerName of the CSRs")
	f.BoolVar(&o.NoApprove, "no-approve", false, "do not approve the CSRs; wait (up to --timeout) for someone else to")
	f.BoolVar(&o.KeepCSR, "keep-csr", false, "leave the CSR objects in the clusters (default: delete them)")
	f.StringVar(&out, "out", "", "kubeconfig file to write (mode 0600)")
	f.BoolVar(&force, "force", false, "replace --out if it exists")
	return cmd
}

func (a *app) kubeconfigRenew() *cobra.Command {
	var (
		admin adminFlags
		o     kubeconfig.RenewOptions
	)
	cmd := &cobra.Command{
		Use:   "renew FILE",
		Short: "Renew every context's certificate with the same key",
		Long: `Ask each context's cluster again for a certificate for the same key, user and groups, with the
lifetime and signer the file was issued with (--ttl overrides), and replace FILE atomically
(nothing is written unless every context renewed). Renewing needs administrator access: each
context is renewed through the --kubeconfig/--context whose server is the context's server.
Run it before the certificates expire, e.g. from a scheduled job with --within.`,
		Example: `  sealctl kubeconfig renew ci.kubeconfig --kubeconfig east.kubeconfig --kubeconfig west.kubeconfig
  sealctl kubeconfig renew ci.kubeconfig --within 1h    # only what expires within the hour`,
		Args: args("FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("ttl") && o.TTL < kubeconfig.MinTTL {
				return usagef("--ttl must be at least %s, not %s", duration(kubeconfig.MinTTL), o.TTL)
			}
			file := args[0]
			cfg, err := clientcmd.LoadFromFile(file)
			if err != nil {
				return fmt.Errorf("reading %s: %w", file, err)
			}
			targets, err := admin.targets()
			if err != nil {
				return err
			}
			o.Timeout, o.Log, o.Now = a.timeout, a.stderr, a.now
			next, done, err := kubeconfig.Renew(cmd.Context(), cfg, targets, o)
			if err != nil {
				return err
			}
			if err := kubeconfig.WriteFile(file, next); err != nil {
				return err
			}
			return a.show(done, func(w io.Writer) {
				row(w, "CONTEXT", "RENEWED", "EXPIRES")
				for _, d := range done {
					row(w, d.Context, fmt.Sprint(d.Renewed), when(d.NotAfter))
				}
			})
		},
	}
	admin.add(cmd)
	cmd.Flags().DurationVar(&o.TTL, "ttl", 0, "lifetime asked for (default: the one the file was issued with)")
	cmd.Flags().DurationVar(&o.Within, "within", 0, "renew only certificates that expire within this long (default: all)")
	cmd.Flags().BoolVar(&o.NoApprove, "no-approve", false, "do not approve the CSRs; wait (up to --timeout) for someone else to")
	cmd.Flags().BoolVar(&o.KeepCSR, "keep-csr", false, "leave the CSR objects in the clusters (default: delete them)")
	return cmd
}

func (a *app) kubeconfigShow() *cobra.Command {
	return &cobra.Command{
		Use:   "show FILE",
		Short: "List a kubeconfig's user, groups, clusters and expiry",
		Long: `Read a kubeconfig and list, per context, the user and groups its client certificate names, the
cluster and server, and when the certificate expires. Keys are never shown.`,
		Example: `  sealctl kubeconfig show ci.kubeconfig
  sealctl kubeconfig show ci.kubeconfig -o json | jq -r '.[].notAfter'`,
		Args: args("FILE"),
		RunE: func(_ *cobra.Command, args []string) error {
			b, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			ctxs, err := kubeconfig.Inspect(b)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			if len(ctxs) == 0 {
				return errors.New(args[0] + ": no contexts")
			}
			now := a.now()
			return a.show(ctxs, func(w io.Writer) {
				row(w, "CONTEXT", "USER", "GROUPS", "CLUSTER", "SERVER", "EXPIRES", "STATUS")
				for _, c := range ctxs {
					note := ""
					switch {
					case c.Problem != "":
						note = c.Problem
					case !now.Before(c.NotAfter):
						note = "expired"
					default:
						note = "in " + duration(c.NotAfter.Sub(now).Truncate(time.Minute))
					}
					name := c.Name
					if c.Current {
						name = "*" + name
					}
					row(w, name, orDash(c.User), list(c.Groups), orDash(c.Cluster), orDash(c.Server), when(c.NotAfter), note)
				}
			})
		},
	}
}
