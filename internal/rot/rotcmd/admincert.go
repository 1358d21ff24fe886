package rotcmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/seal-dev/seal/internal/ca"
	"github.com/seal-dev/seal/internal/rot"
	"github.com/seal-dev/seal/internal/store"
)

// kubeAdmin is what admin-cert needs of the --kube store beyond store.Store.
type kubeAdmin interface {
	ReplaceAdmin(ctx context.Context, cert, key, caPEM []byte) error
	AdminCertPEM(ctx context.Context) ([]byte, error)
}

type adminFlags struct {
	stateDir, namespace, out, revoke string
	kube, revokeAllButNew, list      bool
	keys                             keyFlags
}

func newAdminCert() *cobra.Command {
	var f adminFlags
	cmd := &cobra.Command{
		Use:   "admin-cert (--state-dir DIR | --kube [--namespace NS]) [--out DIR] [--revoke SERIAL | --revoke-all-but-new | --list]",
		Short: "Issue, revoke or list the admin client certificates the admin API accepts",
		Long: `The admin API accepts only admin certificates on the allow-list kept in the ROT's
authority state. admin-cert manages that list:

  (no flag)             issue new admin credentials (1 year, from the current ROT CA), add
                        them to the list and write tls.crt, tls.key and ca.crt
  --revoke-all-but-new  the same, and remove every other certificate from the list
  --revoke SERIAL       remove one certificate (serial as --list or the audit log prints it);
                        the last one cannot be removed
  --list                print the list

With --state-dir, stop seal-rot first (admin-cert takes the directory's lock); credentials go
to --out (default DIR/admin). With --kube, seal-rot may keep running: its replicas reload the
list within seconds; credentials go to Secret seal-rot-admin in --namespace, or to --out DIR.

State written before the allow-list existed has none, and every admin certificate of the ROT
CA is accepted. The first admin-cert on such state lists the certificate found in DIR/admin
(or the Secret) before it writes anything, so the first-start credentials keep working;
--revoke-all-but-new ends them too.`,
		Example: `  seal-rot admin-cert --state-dir /var/lib/seal-rot --list
  seal-rot admin-cert --state-dir /var/lib/seal-rot --revoke-all-but-new --out ~/.seal/admin
  seal-rot admin-cert --kube --namespace seal-rot --revoke 4f3a9c...`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return adminCert(cmd.Context(), cmd.OutOrStdout(), f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.stateDir, "state-dir", "", "state directory of the ROT (stop seal-rot first)")
	fl.BoolVar(&f.kube, "kube", false, "the ROT keeps its state in --namespace (seal-rot serve --kube)")
	fl.StringVar(&f.namespace, "namespace", namespaceDefault(), "namespace of the --kube state (in a cluster, the pod's own namespace by default)")
	fl.StringVar(&f.out, "out", "", "directory to write tls.crt, tls.key, ca.crt to (default DIR/admin, or with --kube Secret seal-rot-admin)")
	fl.StringVar(&f.revoke, "revoke", "", "remove the admin certificate with this serial (hex) from the allow-list")
	fl.BoolVar(&f.revokeAllButNew, "revoke-all-but-new", false, "issue new credentials and allow only them")
	fl.BoolVar(&f.list, "list", false, "print the allow-list")
	f.keys.register(fl)
	cmd.MarkFlagsMutuallyExclusive("state-dir", "kube")
	cmd.MarkFlagsOneRequired("state-dir", "kube")
	cmd.MarkFlagsMutuallyExclusive("revoke", "revoke-all-but-new", "list")
	cmd.MarkFlagsMutuallyExclusive("revoke", "out")
	cmd.MarkFlagsMutuallyExclusive("list", "out")
	return cmd
}

func adminCert(ctx context.Context, stdout io.Writer, f adminFlags) error {
	var st store.Store
	var write func(context.Context, rot.AdminCredentials) error
	var legacy func(context.Context) ([]byte, error)
	keys, err := f.keys.open()
	if err != nil {
		return err
	}
	defer keys.Close()
	if f.kube {
		if KubeStore == nil {
			return ErrKubeNotBuilt
		}
		ks, _, err := KubeStore(ctx, f.namespace, slog.New(slog.DiscardHandler), ca.DefaultWorkloadTTL, keys)
		if err != nil {
			return err
		}
		defer ks.Close()
		ka, ok := ks.(kubeAdmin)
		if !ok {
			return errors.New("--kube: this store cannot write the admin Secret")
		}
		st, legacy = ks, ka.AdminCertPEM
		write = func(ctx context.Context, c rot.AdminCredentials) error {
			return ka.ReplaceAdmin(ctx, c.Cert, c.Key, c.CA)
		}
	} else {
		fs, err := store.OpenFile(f.stateDir)
		if err != nil {
			if errors.Is(err, store.ErrLocked) {
				return fmt.Errorf("%w: stop seal-rot first", err)
			}
			return err
		}
		defer fs.Close()
		st = fs
		legacyFile := filepath.Join(f.stateDir, "admin", rot.AdminCertFile)
		legacy = func(context.Context) ([]byte, error) {
			b, err := os.ReadFile(legacyFile)
			if errors.Is(err, os.ErrNotExist) {
				return nil, nil
			}
			return b, err
		}
		if f.out == "" {
			f.out = filepath.Join(f.stateDir, "admin")
		}
	}
	if f.out != "" {
		write = rot.WriteAdminDir(f.out)
	}
	if f.list {
		list, isLegacy, err := rot.ListAdmins(ctx, st)
		if err != nil {
			return err
		}
		if isLegacy {
			fmt.Fprintln(stdout, "no admin allow-list yet: every unexpired admin certificate of the ROT CA is accepted (seal-rot admin-cert --revoke-all-but-new starts one)")
			return nil
		}
		printAdmins(stdout, list)
		return nil
	}
	old, err := legacy(ctx)
	if err != nil {
		return fmt.Errorf("reading the current admin certificate: %w", err)
	}
	res, err := rot.ChangeAdmins(ctx, st, time.Now, rot.AdminChange{Revoke: f.revoke, RevokeAllButNew: f.revokeAllButNew, Legacy: old, Keys: keys}, write)
	if err != nil {
		return err
	}
	if res.Seeded != "" {
		fmt.Fprintf(stdout, "listed the existing admin certificate %s (the state had no allow-list)\n", res.Seeded)
	}
	if res.Creds == nil {
		fmt.Fprintf(stdout, "revoked admin certificate %s\n", res.Serial)
	} else {
		where := f.out
		if where == "" {
			where = "secret " + f.namespace + "/seal-rot-admin"
		}
		fmt.Fprintf(stdout, "issued admin certificate %s, wrote it to %s\n", res.Serial, where)
	}
	printAdmins(stdout, res.Admins)
	return nil
}

func printAdmins(w io.Writer, list []store.AdminCert) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERIAL\tNOT AFTER\tISSUED")
	for _, e := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", e.Serial, e.NotAfter.UTC().Format(time.RFC3339), e.Issued.UTC().Format(time.RFC3339))
	}
	tw.Flush()
}
