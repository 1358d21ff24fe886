package sealctl

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/version"
)

// Environment variables that stand in for the global flags.
const (
	EnvROT   = "SEAL_ROT"
	EnvAdmin = "SEAL_ADMIN"
)

// app is the state shared by every command of one invocation.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	now            func() time.Time
	getenv         func(string) string

	rotURL   string
	adminDir string
	timeout  time.Duration
	output   string
}

// Run executes sealctl with args and returns the process exit code: 0 on success, 1 when the
// operation failed (the ROT refused, the network, a file), 2 on a usage error (bad flag,
// argument or configuration). Errors are printed on stderr as one line prefixed "sealctl: ".
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := NewRootCommand(stdin, stdout, stderr)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "sealctl: %v\n", err)
	return ExitCode(err)
}

// NewRootCommand returns the sealctl command tree reading stdin and writing stdout and stderr.
// Only the Egg (egg mint), sealed data (seal), the exported bundle and results go to stdout;
// progress and hints go to stderr.
func NewRootCommand(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	return newRootCommand(&app{stdin: stdin, stdout: stdout, stderr: stderr, now: time.Now, getenv: os.Getenv})
}

// newRootCommand builds the command tree for a (whose clock tests move).
func newRootCommand(a *app) *cobra.Command {
	stdin, stdout, stderr := a.stdin, a.stdout, a.stderr
	root := &cobra.Command{
		Use:   "sealctl",
		Short: "Administer a Seal Root of Trust (ROT)",
		Long: `sealctl administers a Seal Root of Trust over its mTLS admin API: it creates workloads,
mints and revokes Eggs (the enrollment credentials pods redeem), issues certificates for
external clients, rotates data keys, seals data to a workload with age, and carries SPIFFE
bundles between trust domains.

Every command that talks to the ROT needs its URL and the admin credentials seal-rot wrote at
first start (STATE_DIR/admin/{tls.crt,tls.key,ca.crt}):

  --rot URL     or  SEAL_ROT=URL
  --admin DIR   or  SEAL_ADMIN=DIR

Results go to stdout (tables, or JSON with -o json); hints go to stderr. Exit codes: 0 success,
1 the operation failed (the ROT refused, network, files), 2 usage error.`,
		Example: `  export SEAL_ROT=https://127.0.0.1:8443 SEAL_ADMIN=./state/admin
  sealctl workload create payments --peer api --peer db
  sealctl egg mint payments --peer api > egg.txt
  sealctl seal payments < secret.txt > secret.age`,
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          cobra.ArbitraryArgs,
		RunE:          groupRun,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if a.output != "table" && a.output != "json" {
				return usagef("-o/--output must be table or json, not %q", a.output)
			}
			if a.timeout <= 0 {
				return usagef("--timeout must be positive, not %s", a.timeout)
			}
			return nil
		},
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	pf := root.PersistentFlags()
	pf.StringVar(&a.rotURL, "rot", "", "base URL of the ROT, e.g. https://rot.example.org:8443 (env "+EnvROT+")")
	pf.StringVar(&a.adminDir, "admin", "", "directory holding the admin tls.crt, tls.key and ca.crt (env "+EnvAdmin+")")
	pf.DurationVar(&a.timeout, "timeout", 30*time.Second, "give up on the ROT after this long")
	pf.StringVarP(&a.output, "output", "o", "table", "output format: table or json")
	_ = root.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"table", "json"}, cobra.ShellCompDirectiveNoFileComp))
	_ = root.MarkPersistentFlagDirname("admin")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(a.workloadCommand(), a.eggCommand(), a.certCommand(), a.keysCommand(),
		a.sealCommand(), a.bundleCommand(), a.verifyCommand(), a.rotateCommand(), a.caCommand())
	root.AddCommand(a.kubeconfigCommand(), a.versionCommand())
	root.AddCommand(a.clusterCommand())
	root.AddCommand(a.secretCommand())
	root.AddCommand(a.rotCommand(), a.federationCommand())
	root.AddCommand(a.attestationCommand(), a.imageCommand())
	a.addInjectCommands(root)
	root.Version = version.Get()
	root.SetVersionTemplate(version.String("sealctl") + "\n")
	return root
}

// group returns a parent command that only holds subcommands: without a subcommand it prints
// its help, with an unknown one it fails with a usage error.
func group(use, short, long string) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Long:  long,
		Args:  cobra.ArbitraryArgs,
		RunE:  groupRun,
	}
}

// groupRun prints a group's help, or fails on an unknown subcommand with suggestions.
func groupRun(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return cmd.Help()
	}
	hint := ""
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2
	}
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		hint = "did you mean " + strings.Join(s, " or ") + "? "
	}
	return usagef("unknown command %q for %q (%ssee %s --help)", args[0], cmd.CommandPath(), hint, cmd.CommandPath())
}

// args checks the positional arguments against their names, for a usage error that says
// what is missing.
func args(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, got []string) error {
		path := strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
		switch {
		case len(got) < len(names):
			return usagef("%s needs %s (see %s --help)", path, names[len(got)], cmd.CommandPath())
		case len(got) > len(names):
			return usagef("%s takes %d argument(s), got %d: unexpected %q", path, len(names), len(got), got[len(names)])
		}
		for i, g := range got {
			if g == "" {
				return usagef("%s: %s must not be empty", path, names[i])
			}
		}
		return nil
	}
}

// conn is a configured ROT client plus what is needed to explain its failures.
type conn struct {
	c        *rotapi.Client
	base     string
	adminDir string
	timeout  time.Duration
}

// connect resolves --rot/--admin (or their env vars), loads the admin credentials and returns a
// client whose every call is bounded by --timeout.
func (a *app) connect() (*conn, error) {
	base, dir := a.rotURL, a.adminDir
	if base == "" {
		base = a.getenv(EnvROT)
	}
	if dir == "" {
		dir = a.getenv(EnvAdmin)
	}
	switch {
	case base == "" && dir == "":
		return nil, usagef("no ROT given: pass --rot URL and --admin DIR, or set %s and %s (DIR holds tls.crt, tls.key and ca.crt, written by seal-rot to STATE_DIR/admin at first start)", EnvROT, EnvAdmin)
	case base == "":
		return nil, usagef("no ROT URL given: pass --rot URL or set %s (e.g. https://127.0.0.1:8443)", EnvROT)
	case dir == "":
		return nil, usagef("no admin credentials given: pass --admin DIR or set %s (DIR holds tls.crt, tls.key and ca.crt, written by seal-rot to STATE_DIR/admin at first start)", EnvAdmin)
	}
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, usagef("--rot %q is not an https:// URL", base)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		return nil, fmt.Errorf("reading the admin credentials (--admin is the admin directory seal-rot wrote at first start): %w", err)
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"))
	if err != nil {
		return nil, fmt.Errorf("reading the admin credentials in %s: %w", dir, err)
	}
	if leaf, err := x509.ParseCertificate(cert.Certificate[0]); err == nil {
		a.warnAdminExpiry(leaf, dir)
	}
	c, err := rotapi.NewClient(base, caPEM, &cert)
	if err != nil {
		return nil, fmt.Errorf("%s/ca.crt: %w", dir, err)
	}
	c.HTTP.Timeout = a.timeout
	return &conn{c: c, base: c.Base, adminDir: dir, timeout: a.timeout}, nil
}

// do calls the ROT within the timeout and turns failures into one line a user can act on.
func (c *conn) do(ctx context.Context, method, path string, in, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := c.c.Do(ctx, method, path, in, out); err != nil {
		return c.explain(err)
	}
	return nil
}
