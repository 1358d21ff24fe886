package rotcmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/seal-dev/seal/internal/ca"
	"github.com/seal-dev/seal/internal/rot"
	"github.com/seal-dev/seal/internal/store"
)

// KubeStore opens the --kube store in namespace and returns it with the writer of the admin
// credentials (a Secret). It is nil until the Kubernetes store is built; cmd/rot sets it.
var KubeStore func(ctx context.Context, namespace string, log *slog.Logger, workloadCATTL time.Duration, keys ca.Custody) (store.Store, func(context.Context, rot.AdminCredentials) error, error)

// ErrKubeNotBuilt: --kube was asked for but this build has no Kubernetes store.
var ErrKubeNotBuilt = errors.New("--kube: the Kubernetes state store is not built into this seal-rot yet; use --state-dir DIR")

// Main runs seal-rot with args (without the program name) until ctx ends (cmd/rot cancels it
// on SIGTERM or an interrupt) and returns the exit code (docs/cli.md): ExitOK; ExitUsage for a
// bad flag or argument; ExitFailure for anything else. The error goes to stderr.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := NewCommand()
	cmd.SetArgs(args)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	err := cmd.ExecuteContext(ctx)
	var u usageError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &u):
		fmt.Fprintf(stderr, "seal-rot: %v (see seal-rot --help)\n", err)
		return ExitUsage
	default:
		fmt.Fprintln(stderr, "seal-rot:", err)
		return ExitFailure
	}
}

// Exit codes of Main, the same as seal-init's, sealctl's and seal-webhook's.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// usageError marks a mistake in the command line (exit code ExitUsage).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// noArgs is cobra.NoArgs with its error marked as a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if err := cobra.NoArgs(cmd, args); err != nil {
		return usageError{err}
	}
	return nil
}

// NewCommand returns the seal-rot root command.
func NewCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "seal-rot",
		Short: "Seal Root of Trust: the CA, Egg and data-key signer of one SPIFFE trust domain",
		Long: `seal-rot is the Root of Trust of a Seal trust domain. It holds the ROT CA, one Workload CA
per workload, the egg-sealing keys and the workloads' age data keys. Pods redeem Eggs at
POST /v1/redeem for a certificate and keys; admins manage it over mTLS (sealctl).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	// Required flags are checked here, before cobra's own check, so that a missing one is a
	// usage error too.
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if err := cmd.ValidateRequiredFlags(); err != nil {
			return usageError{err}
		}
		if err := cmd.ValidateFlagGroups(); err != nil {
			return usageError{err}
		}
		return nil
	}
	root.AddCommand(newServe(), newAdminCert(), newMigrate())
	return root
}

type serveFlags struct {
	stateDir, namespace, listen, trustDomain, externalURL, logFormat, logLevel string
	adminListen, metricsListen                                                 string
	kube                                                                       bool
	rootTTL, workloadCATTL                                                     time.Duration
	caActivationDelay                                                          time.Duration
	limits                                                                     rot.RedeemLimits
	keys                                                                       keyFlags
}

func newServe() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve (--state-dir DIR | --kube [--namespace NS]) --trust-domain TD [--listen ADDR] [--external-url URL]",
		Short: "Run the ROT: HTTPS API, SPIFFE bundle endpoint, admin API, health and metrics",
		Long: `Run the ROT until SIGTERM or SIGINT, then shut down gracefully.

On the first start (an empty state) seal-rot creates the ROT CA (ECDSA P-256, 10 years) and
the egg-sealing key, and writes the admin client credentials to DIR/admin/ (tls.crt, tls.key,
ca.crt) for sealctl --admin DIR/admin. Later starts load the same CA; state that cannot be
read stops seal-rot with an error and is left untouched. Only one seal-rot may use a
state directory at a time.

Endpoints: POST /v1/redeem, GET /v1/bundle (SPIFFE bundle, https_spiffe profile with
endpoint SPIFFE ID spiffe://TD/seal/rot), /v1/admin/... (mTLS, admin certificate only),
GET /healthz, /readyz, /metrics. --admin-listen and --metrics-listen move the admin API
(TLS, admin certificate) and /metrics (plain HTTP) to their own addresses; they then answer
404 on --listen, so the public redeem port can face pods without exposing either.

POST /v1/redeem is rate-limited per Egg id (token buckets, 429 with Retry-After;
--redeem-rate-per-egg, --redeem-burst-per-egg, 0 turns it off; the default burst lets 10,000
pods sharing one Egg start at once), and optionally per client IP address
(--redeem-rate-per-client, off by default: behind NAT one address is every pod).

Key custody (docs/key-custody.md): by default the CA keys, egg-sealing keys and data keys are
stored in clear in the state. --kek-file seals each of them under a key-encryption key (a state
in clear is sealed on the first start with it; a sealed state refuses to start without it).
--key-provider pkcs11 generates the CA keys on a PKCS#11 token, non-extractable, and wraps the
other keys with a token key (needs a cgo build). --upstream-ca-cert with --upstream-ca-key (or
--upstream-ca-pkcs11-label) makes every new ROT CA an intermediate of an organisation's CA.`,
		Example: `  # A laptop ROT for the trust domain dev.example.org:
  seal-rot serve --state-dir ~/.seal/rot --listen 127.0.0.1:8443 --trust-domain dev.example.org

  # Behind a load balancer: Eggs point pods at the public name.
  seal-rot serve --state-dir /var/lib/seal-rot --listen :8443 --trust-domain prod.example.org \
    --external-url https://rot.prod.example.org:8443

  # Keys sealed under a key-encryption key (head -c 32 /dev/urandom > kek; chmod 600 kek):
  seal-rot serve --state-dir /var/lib/seal-rot --trust-domain prod.example.org --kek-file /etc/seal/kek

  # CA keys on an HSM, ROT CA chained to the organisation's issuing CA:
  seal-rot serve --state-dir /var/lib/seal-rot --trust-domain prod.example.org \
    --key-provider pkcs11 --pkcs11-module /usr/lib/softhsm/libsofthsm2.so \
    --pkcs11-token seal-rot --pkcs11-pin-file /etc/seal/pin \
    --upstream-ca-cert org-issuing-ca.pem --upstream-ca-key org-issuing-ca.key`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return serve(cmd.Context(), cmd.ErrOrStderr(), f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.stateDir, "state-dir", "", "directory holding the ROT state (files 0600, locked while running)")
	fl.BoolVar(&f.kube, "kube", false, "keep the state in Secrets and Workload resources of --namespace (in-cluster)")
	fl.StringVar(&f.namespace, "namespace", namespaceDefault(), "namespace of the --kube state (in a cluster, the pod's own namespace by default)")
	fl.StringVar(&f.listen, "listen", "127.0.0.1:8443", "address to serve HTTPS on")
	fl.StringVar(&f.trustDomain, "trust-domain", "", "SPIFFE trust domain this ROT serves, e.g. prod.example.org (required)")
	fl.StringVar(&f.adminListen, "admin-listen", "", "serve the admin API (/v1/admin/...) only on this address (default: on --listen)")
	fl.StringVar(&f.metricsListen, "metrics-listen", "", "serve /metrics over plain HTTP only on this address (default: on --listen)")
	fl.StringVar(&f.externalURL, "external-url", "", "ROT URL written into Eggs (default https://<listen address>)")
	fl.DurationVar(&f.rootTTL, "root-ca-ttl", ca.DefaultRootTTL, "lifetime of a new ROT CA (first start and rotations)")
	fl.DurationVar(&f.workloadCATTL, "workload-ca-ttl", ca.DefaultWorkloadTTL, "lifetime of a new Workload CA; a successor is made when a third is left")
	fl.DurationVar(&f.caActivationDelay, "ca-activation-delay", 0, "how long a rotated Workload CA is only in trust bundles before it signs (0: the workload's certificate TTL, by which every pod has renewed and trusts it); sealctl rotate --now skips it")
	d := rot.DefaultRedeemLimits
	fl.Float64Var(&f.limits.PerEgg.Rate, "redeem-rate-per-egg", d.PerEgg.Rate, "redemptions a second one Egg id may make on average (0: no per-Egg limit); over it: 429 with Retry-After")
	fl.IntVar(&f.limits.PerEgg.Burst, "redeem-burst-per-egg", d.PerEgg.Burst, "redemptions one Egg id may make at once (pods sharing the Egg that start together)")
	fl.Float64Var(&f.limits.PerClient.Rate, "redeem-rate-per-client", d.PerClient.Rate, "redemption requests a second one client IP address may make on average (0, the default: no per-client limit; set it only where the ROT sees the pods' own addresses, not one NAT or load-balancer address for all)")
	fl.IntVar(&f.limits.PerClient.Burst, "redeem-burst-per-client", d.PerClient.Burst, "redemption requests one client IP address may make at once (everything behind one NAT address counts as one client)")
	fl.IntVar(&f.limits.MaxTracked, "redeem-rate-max-tracked", rot.DefaultMaxTracked, "most Egg ids, and most client addresses, the rate limits track at once (least recently used dropped first)")
	fl.StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
	fl.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.keys.register(fl)
	f.keys.registerUpstream(fl)
	_ = cmd.MarkFlagRequired("trust-domain")
	cmd.MarkFlagsMutuallyExclusive("state-dir", "kube")
	cmd.MarkFlagsOneRequired("state-dir", "kube")
	return cmd
}

func serve(ctx context.Context, stderr io.Writer, f serveFlags) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return usageError{fmt.Errorf("--log-level %q: %w", f.logLevel, err)}
	}
	hopts := &slog.HandlerOptions{Level: level}
	var log *slog.Logger
	switch f.logFormat {
	case "text":
		log = slog.New(slog.NewTextHandler(stderr, hopts))
	case "json":
		log = slog.New(slog.NewJSONHandler(stderr, hopts))
	default:
		return usageError{fmt.Errorf("--log-format %q: want text or json", f.logFormat)}
	}
	ext := f.externalURL
	if ext == "" {
		host, port, err := net.SplitHostPort(f.listen)
		if err != nil {
			return fmt.Errorf("--listen %q: %w", f.listen, err)
		}
		if host == "" || host == "0.0.0.0" || host == "::" {
			return fmt.Errorf("--listen %q has no host to put into Eggs: set --external-url", f.listen)
		}
		ext = "https://" + net.JoinHostPort(host, port)
	}
	if f.caActivationDelay < 0 {
		return fmt.Errorf("--ca-activation-delay %s: want 0 (the certificate TTL) or more", f.caActivationDelay)
	}
	if f.rootTTL < 24*time.Hour || f.workloadCATTL < time.Hour || f.workloadCATTL > f.rootTTL {
		return fmt.Errorf("--root-ca-ttl %s and --workload-ca-ttl %s: want a ROT CA of at least 24h and a Workload CA of at least 1h that does not outlive it", f.rootTTL, f.workloadCATTL)
	}
	if err := f.limits.Check(); err != nil {
		return fmt.Errorf("--redeem-rate-*/--redeem-burst-*: %w", err)
	}
	keys, err := f.keys.open()
	if err != nil {
		return err
	}
	defer keys.Close()
	upstream, err := f.keys.upstream(keys)
	if err != nil {
		return err
	}
	cfg := rot.Config{Upstream: upstream, TrustDomain: f.trustDomain, ExternalURL: ext, Logger: log, RootTTL: f.rootTTL, WorkloadCATTL: f.workloadCATTL, RedeemLimits: &f.limits, Keys: keys, CAActivationDelay: f.caActivationDelay}
	if f.kube {
		if KubeStore == nil {
			return ErrKubeNotBuilt
		}
		st, out, err := KubeStore(ctx, f.namespace, log, f.workloadCATTL, keys)
		if err != nil {
			return err
		}
		defer st.Close()
		cfg.Store, cfg.AdminOut = st, out
	} else {
		st, err := store.OpenFile(f.stateDir)
		if err != nil {
			return err
		}
		defer st.Close()
		cfg.Store, cfg.AdminOut = st, rot.WriteAdminDir(filepath.Join(f.stateDir, "admin"))
	}
	err = rot.ListenAndServeSplit(ctx, cfg, f.listen, f.adminListen, f.metricsListen)
	if err == nil {
		log.Info("stopped")
	}
	return err
}
