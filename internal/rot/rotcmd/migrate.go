package rotcmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"sigs.k8s.io/controller-runtime/pkg/client/config"

	"github.com/seal-dev/seal/internal/custody"
	"github.com/seal-dev/seal/internal/kubestore"
	"github.com/seal-dev/seal/internal/migrate"
	"github.com/seal-dev/seal/internal/store"
)

func newMigrate() *cobra.Command {
	var from, to string
	var dryRun bool
	var fromKeys, toKeys keyFlags
	cmd := &cobra.Command{
		Use:   "migrate --from dir:PATH|kube:[CONTEXT/]NAMESPACE --to dir:PATH|kube:[CONTEXT/]NAMESPACE [--dry-run]",
		Short: "Move the whole ROT state between a state directory and a Kubernetes namespace, or between clusters",
		Long: `migrate copies everything the ROT keeps (ROT CAs and keys, the egg-sealing keyring and
bundle sequence, the admin allow-list, workloads with their Workload CAs and data keys, Egg
records and revocations, federated bundles, federation invites, and whether it is drained)
from one store to another:

  dir:PATH                     a state directory (seal-rot serve --state-dir PATH)
  kube:NAMESPACE               Secrets and seal.dev resources of NAMESPACE, through KUBECONFIG,
                               ~/.kube/config or the pod's service account
  kube:CONTEXT/NAMESPACE       the same in kubeconfig context CONTEXT (another cluster)

The source is only read. The destination must be empty (a new state directory, or a namespace
and cluster without Seal state); migrate refuses anything else. After copying it reads the
destination back and compares it with the source: ROT CA, Workload CA and egg-sealing key
fingerprints, the bundle sequence, and the counts of workloads, data keys, Egg records and
bundles. --dry-run prints the same without writing.

The moved ROT is the same ROT: Eggs minted before the move redeem at it, its bundle sequence
goes on from where it was, and federated peers keep trusting it. Start it with the same
--trust-domain and --external-url (Eggs name that URL; switch the DNS name, not the URL).

Stop a --state-dir source first (migrate takes its lock), or drain a running --kube source
(sealctl rot drain) so no admin change is lost. Admin credentials are not state: the old ones
keep working at the new ROT; seal-rot admin-cert issues new ones there. See docs/migration.md.

Key providers (docs/key-custody.md): --from-kek-file (or --from-key-provider pkcs11 with
--from-pkcs11-*) opens a sealed source. Any --to-* key flag seals every key again for the
destination before it is written: --to-kek-file seals under another KEK, --to-key-provider
pkcs11 imports the CA keys onto that token (non-extractable from then on). Without --to-* the
keys are copied as they are stored.`,
		Example: `  # Bootstrap: from the external ROT's directory into the cluster, checked first:
  seal-rot migrate --from dir:/var/lib/seal-rot --to kube:seal-system --dry-run
  seal-rot migrate --from dir:/var/lib/seal-rot --to kube:seal-system

  # From one cluster to another:
  seal-rot migrate --from kube:old-cluster/seal-system --to kube:new-cluster/seal-system`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			reseal := false
			cmd.Flags().Visit(func(f *pflag.Flag) { reseal = reseal || strings.HasPrefix(f.Name, "to-") })
			return runMigrate(cmd.Context(), cmd.OutOrStdout(), from, to, dryRun, &fromKeys, &toKeys, reseal)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&from, "from", "", "store to copy from: dir:PATH or kube:[CONTEXT/]NAMESPACE (only read)")
	fl.StringVar(&to, "to", "", "empty store to copy into: dir:PATH or kube:[CONTEXT/]NAMESPACE")
	fl.BoolVar(&dryRun, "dry-run", false, "print what would move and check the destination is empty, writing nothing")
	fromKeys.registerStore(fl, "from-", "source")
	toKeys.registerStore(fl, "to-", "destination (given: every key is sealed again for it; a pkcs11 destination imports the CA keys onto the token, non-extractable from then on)")
	_ = cmd.MarkFlagRequired("from")
	_ = cmd.MarkFlagRequired("to")
	return cmd
}

// storeSpec is a parsed --from or --to.
type storeSpec struct {
	dir, kubeContext, namespace string
}

func (s storeSpec) String() string {
	switch {
	case s.dir != "":
		return "dir:" + s.dir
	case s.kubeContext != "":
		return "kube:" + s.kubeContext + "/" + s.namespace
	default:
		return "kube:" + s.namespace
	}
}

// parseStoreSpec parses dir:PATH or kube:[CONTEXT/]NAMESPACE. A context name may hold slashes
// (EKS ARNs do); a namespace never does, so the last one splits them.
func parseStoreSpec(flag, v string) (storeSpec, error) {
	kind, rest, ok := strings.Cut(v, ":")
	switch {
	case ok && kind == "dir" && rest != "":
		return storeSpec{dir: rest}, nil
	case ok && kind == "kube" && rest != "":
		s := storeSpec{namespace: rest}
		if i := strings.LastIndex(rest, "/"); i >= 0 {
			s.kubeContext, s.namespace = rest[:i], rest[i+1:]
			if s.kubeContext == "" {
				return storeSpec{}, usageError{fmt.Errorf("%s %q: empty kubeconfig context before the /", flag, v)}
			}
		}
		if s.namespace == "" {
			return storeSpec{}, usageError{fmt.Errorf("%s %q: no namespace", flag, v)}
		}
		return s, nil
	}
	return storeSpec{}, usageError{fmt.Errorf("%s %q: want dir:PATH or kube:[CONTEXT/]NAMESPACE", flag, v)}
}

// openSpec opens the store s names, whose keys keys opens. A source directory must exist:
// opening it must not create one.
func openSpec(s storeSpec, source bool, keys custody.Keys) (store.Store, error) {
	if s.dir != "" {
		if source {
			if _, err := os.Stat(s.dir); errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("--from %s: no such directory", s)
			}
		}
		return store.OpenFile(s.dir)
	}
	var err error
	cfg, err := config.GetConfigWithContext(s.kubeContext)
	if err != nil {
		return nil, fmt.Errorf("%s: no Kubernetes API configuration: %w", s, err)
	}
	return kubestore.New(cfg, s.namespace, kubestore.Options{Keys: keys})
}

func runMigrate(ctx context.Context, stdout io.Writer, fromV, toV string, dryRun bool, fromKF, toKF *keyFlags, reseal bool) error {
	fromS, err := parseStoreSpec("--from", fromV)
	if err != nil {
		return err
	}
	toS, err := parseStoreSpec("--to", toV)
	if err != nil {
		return err
	}
	if fromS == toS {
		return usageError{fmt.Errorf("--from and --to are both %s", fromS)}
	}
	fromKeys, err := fromKF.open()
	if err != nil {
		return err
	}
	defer fromKeys.Close()
	toKeys := fromKeys
	if reseal {
		if toKeys, err = toKF.open(); err != nil {
			return err
		}
		defer toKeys.Close()
	}
	from, err := openSpec(fromS, true, fromKeys)
	if err != nil {
		return err
	}
	defer from.Close()
	to, err := openSpec(toS, false, toKeys)
	if err != nil {
		return err
	}
	defer to.Close()
	o := migrate.Options{DryRun: dryRun}
	if reseal {
		o.From, o.To = fromKeys, toKeys
	}
	plan, err := migrate.Migrate(ctx, from, to, o)
	if err != nil {
		return err
	}
	if dryRun {
		fmt.Fprintf(stdout, "would move %s to %s (dry run: nothing written):\n%s", fromS, toS, plan)
		return nil
	}
	fmt.Fprintf(stdout, "moved %s to %s and verified the copy:\n%s", fromS, toS, plan)
	return nil
}
