package enroll

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"
)

// Exit codes of seal-init.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// DefaultOut is where the files go in a pod.
const DefaultOut = "/var/run/seal"

// DefaultTerminationLog is the kubelet's default terminationMessagePath.
const DefaultTerminationLog = "/dev/termination-log"

// options is the parsed command line.
type options struct {
	eggFile, eggEnv, eggFromImage string
	out                           string
	hostnames, federatesWith      listFlag
	timeout                       time.Duration
	watch                         bool
	gid                           int
	healthAddr, readyFile         string
	logLevel                      string
	terminationLog                string
	agentSocket                   string
	tokenFile                     string
	secrets                       bool
	secretsInterval               time.Duration
	attest                        attestOptions // attest.go
}

// listFlag is a repeatable flag; from the environment it is a comma list.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(s string) error {
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l = append(*l, v)
		}
	}
	return nil
}

// envName is the SEAL_* variable of a flag: --egg-file is SEAL_EGG_FILE. Repeatable flags take
// plural names (SEAL_HOSTNAMES).
func envName(flagName string) string {
	if flagName == "hostname" {
		return "SEAL_HOSTNAMES"
	}
	return "SEAL_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

const usageHead = `seal-init redeems the pod's Egg at its ROT and writes the pod's identity into --out:
  tls.crt (leaf + chain), tls.key (PKCS#8), ca.crt (Workload CA bundle),
  bundles/<trust-domain>.pem (federated bundles), keys.txt (age identities, newest first),
  secrets/<name> (the workload's current secrets, kept up to date with --watch).

Usage:
  seal-init [flags]            redeem once and exit (init container)
  seal-init --watch [flags]    redeem, then renew before expiry until SIGTERM (native sidecar)
  seal-init copy DEST          copy this binary to DEST (a file, or a directory to hold seal-init)
  seal-init check [DIR]        exit 0 when DIR (default --out) holds a complete identity valid now,
                               else exit 1 saying what is missing or expired (the sidecar's probe)
  seal-init attest enroll|pcrs create the node's TPM attestation key, or read PCR reference values
                               (see seal-init attest --help and docs/attestation.md)

Every flag can also be set by its environment variable; a flag on the command line wins.
Repeatable flags take a comma list from the environment.

Flags:
`

func newFlagSet(o *options) *flag.FlagSet {
	fs := flag.NewFlagSet("seal-init", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported by Main, on one line
	fs.StringVar(&o.eggFile, "egg-file", "", "read the Egg from this `file`")
	fs.StringVar(&o.eggEnv, "egg-env", "SEAL_EGG", "read the Egg from this environment `variable` (when no file is given)")
	fs.StringVar(&o.eggFromImage, "egg-from-image", "", "read the Egg baked into the app image at this `path` (seal-init runs in the app's image)")
	fs.StringVar(&o.out, "out", DefaultOut, "write the files into this `directory` (the pod's memory volume)")
	fs.Var(&o.hostnames, "hostname", "ask for this extra DNS SAN `host`, a route host the Workload allows (repeatable)")
	fs.Var(&o.federatesWith, "federates-with", "fetch the bundle of this federated `trust-domain` (repeatable; default: all the Workload federates with)")
	fs.DurationVar(&o.timeout, "timeout", DefaultTimeout, "give up if the ROT has not answered within this `duration`")
	fs.BoolVar(&o.watch, "watch", false, "keep running and renew at about 2/3 of the certificate lifetime (native sidecar)")
	fs.IntVar(&o.gid, "gid", 0, "make the files group-readable (0440) by this `group` id")
	fs.StringVar(&o.healthAddr, "health-addr", "", "serve /healthz and /readyz on this `address` (e.g. :9820)")
	fs.StringVar(&o.readyFile, "ready-file", "", "create this `file` once the identity files are written")
	fs.StringVar(&o.logLevel, "log-level", "info", "log `level`: debug, info, warn or error")
	fs.StringVar(&o.terminationLog, "termination-log", DefaultTerminationLog, "also write a failure's line to this `file` when it exists (Kubernetes shows it as the container's termination message)")
	fs.StringVar(&o.agentSocket, "workload-api-socket", "", "with --watch, (seal-agent only) also serve the SPIFFE Workload API on this Unix socket `path` (e.g. /var/run/seal/agent.sock)")
	fs.StringVar(&o.tokenFile, "token-file", "", "send the pod's projected ServiceAccount token from this `file`, read again at every renewal (default "+DefaultTokenFile+" when it exists)")
	fs.BoolVar(&o.secrets, "secrets", true, "also write the workload's secrets to secrets/<name> (--secrets=false: none)")
	fs.DurationVar(&o.secretsInterval, "secrets-interval", DefaultSecretsInterval, "with --watch, poll the ROT for changed secrets this `often` (jittered)")
	addAttestFlags(fs, &o.attest)
	fs.Usage = func() {}
	return fs
}

// printUsage writes the --help text.
func printUsage(fs *flag.FlagSet, stderr io.Writer) {
	fmt.Fprint(stderr, usageHead)
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		if name != "" {
			name = " " + name
		}
		fmt.Fprintf(stderr, "  --%s%s\n    \t%s (env %s", f.Name, name, usage, envName(f.Name))
		if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" {
			fmt.Fprintf(stderr, ", default %s", f.DefValue)
		}
		fmt.Fprintln(stderr, ")")
	})
}

// parse reads flags, then fills the flags not given from the SEAL_* environment.
func parse(args []string, getenv func(string) string, stderr io.Writer) (*options, []string, error) {
	o := &options{}
	fs := newFlagSet(o)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(fs, stderr)
		}
		return nil, nil, err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		v := getenv(envName(f.Name))
		if given[f.Name] || v == "" || err != nil {
			return
		}
		if e := fs.Set(f.Name, v); e != nil {
			err = fmt.Errorf("bad %s=%q: %v", envName(f.Name), v, e)
		}
	})
	if err != nil {
		return nil, nil, err
	}
	switch {
	case o.eggFile != "" && o.eggFromImage != "":
		return nil, nil, errors.New("give --egg-file or --egg-from-image, not both")
	case o.timeout <= 0:
		return nil, nil, errors.New("--timeout must be positive")
	case o.gid < 0:
		return nil, nil, errors.New("--gid must not be negative")
	case o.secretsInterval < time.Second:
		return nil, nil, errors.New("--secrets-interval must be at least 1s")
	case o.out == "":
		return nil, nil, errors.New("--out must not be empty")
	case o.agentSocket != "" && !o.watch:
		return nil, nil, errors.New("--workload-api-socket needs --watch (the socket is served by the sidecar, which renews)")
	}
	if err := o.attest.check(); err != nil {
		return nil, nil, err
	}
	return o, fs.Args(), nil
}
