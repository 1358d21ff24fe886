package enroll

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/seal-dev/seal/internal/atomicfile"

	"github.com/seal-dev/seal/internal/podfiles"
)

// readEgg returns the Egg text and a description of where it came from.
func readEgg(o *options, getenv func(string) string) (text, source string, err error) {
	switch {
	case o.eggFromImage != "":
		b, err := readSmall(o.eggFromImage)
		if err != nil {
			return "", "", &Failure{Err: err,
				What:  fmt.Sprintf("cannot read the Egg baked into the app image at %s (%s)", o.eggFromImage, cause(err)),
				Check: fmt.Sprintf("bake it in with `COPY egg.txt %s` in the Dockerfile, or fix the pod's seal.dev/egg annotation", o.eggFromImage)}
		}
		return string(b), "the image file " + o.eggFromImage, nil
	case o.eggFile != "":
		b, err := readSmall(o.eggFile)
		if err != nil {
			return "", "", &Failure{Err: err,
				What:  fmt.Sprintf("cannot read the Egg file %s (%s)", o.eggFile, cause(err)),
				Check: "check --egg-file and the Secret named by the pod's seal.dev/egg annotation"}
		}
		return string(b), "file " + o.eggFile, nil
	}
	text = getenv(o.eggEnv)
	if strings.TrimSpace(text) == "" {
		return "", "", &Failure{
			What:  fmt.Sprintf("no Egg: environment variable %s is empty and no --egg-file or --egg-from-image was given", o.eggEnv),
			Check: "mint one with `sealctl egg mint WORKLOAD` and put it in a Secret named by the pod's seal.dev/egg annotation"}
	}
	return text, "environment variable " + o.eggEnv, nil
}

// readSmall reads a file of at most a little over the Egg size limit.
func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 2*64<<10))
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	err := l.UnmarshalText([]byte(s))
	return l, err
}

// Main runs seal-init with args (without the program name) and returns the exit code. Failures
// are printed to stderr as one line "seal-init: ..."; logs go to stderr through slog.
func Main(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) int {
	return MainWith(ctx, "seal-init", nil, args, getenv, stderr)
}

// MainWith runs seal-init as the program prog with ext running beside the rotating sidecar
// (seal-agent passes the SPIFFE Workload API).
func MainWith(ctx context.Context, prog string, ext Extension, args []string, getenv func(string) string, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "copy" {
		return mainCopy(args[1:], stderr)
	}
	if len(args) > 0 && args[0] == "attest" {
		return mainAttest(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "check" {
		return mainCheck(args[1:], getenv, stderr, time.Now())
	}
	o, rest, err := parse(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	if err == nil && len(rest) > 0 {
		err = fmt.Errorf("unexpected argument %q", rest[0])
	}
	if err == nil && o.agentSocket != "" && ext == nil {
		err = fmt.Errorf("%s does not serve the SPIFFE Workload API: run seal-agent (in the same image) for --workload-api-socket", prog)
	}
	level, lerr := parseLevel(o.logLevelOr("info"))
	if err == nil && lerr != nil {
		err = fmt.Errorf("bad --log-level: %v", lerr)
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v (see %s --help)\n", prog, err, prog)
		return ExitUsage
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if err := run(ctx, o, getenv, log, ext); err != nil {
		line := fmt.Sprintf("%s: %v\n", prog, err)
		fmt.Fprint(stderr, line)
		writeTerminationLog(o.terminationLog, line)
		return ExitFailure
	}
	return ExitOK
}

func (o *options) logLevelOr(def string) string {
	if o == nil || o.logLevel == "" {
		return def
	}
	return o.logLevel
}

func run(ctx context.Context, o *options, getenv func(string) string, log *slog.Logger, ext Extension) error {
	text, source, err := readEgg(o, getenv)
	if err != nil {
		return err
	}
	e, err := New(text, source)
	if err != nil {
		return err
	}
	e.Hostnames, e.FederatesWith, e.Timeout, e.Log = o.hostnames, o.federatesWith, o.timeout, log
	e.TokenFile = tokenFile(o)
	e.Secrets, e.SecretsInterval = o.secrets, o.secretsInterval
	e.Attest = o.attest.attester()
	e.Writer = &podfiles.Writer{Dir: o.out, GID: o.gid}
	state := &State{}
	if o.healthAddr != "" {
		stop, err := serveHealth(o.healthAddr, state, log)
		if err != nil {
			return &Failure{Err: err, What: fmt.Sprintf("cannot serve health on %s (%s)", o.healthAddr, cause(err)),
				Check: "check --health-addr"}
		}
		defer stop()
	}
	log.Debug("redeeming the Egg", "rot", e.ROT(), "trustDomain", e.TrustDomain(), "out", o.out)
	id, err := e.Enroll(ctx)
	if err != nil && o.watch && ctx.Err() != nil {
		log.Info("stopping on signal before the first identity was written")
		return nil // a sidecar told to stop is not a failure
	}
	if err != nil {
		return err
	}
	if o.watch && o.agentSocket != "" {
		notify, stop, err := ext(ctx, e, ExtensionOptions{Socket: o.agentSocket, GID: o.gid, Log: log})
		if err != nil {
			return &Failure{Err: err, What: fmt.Sprintf("cannot serve the SPIFFE Workload API on %s (%s)", o.agentSocket, cause(err)),
				Check: "check --workload-api-socket: its directory must be the pod's writable seal volume"}
		}
		defer stop()
		state.Notify = notify
	}
	// The ready file first, then /readyz: whoever sees the process ready finds the file.
	if o.readyFile != "" {
		if err := writeReadyFile(o.readyFile, id); err != nil {
			return &Failure{Err: err, What: fmt.Sprintf("cannot write the ready file %s (%s)", o.readyFile, cause(err)),
				Check: "check --ready-file"}
		}
	}
	state.Set(id)
	if !o.watch {
		return nil
	}
	err = e.Watch(ctx, id, state, nil)
	if err == nil {
		log.Info("stopping on signal")
	}
	return err
}

// writeReadyFile atomically writes the ready file, which holds the pod's SPIFFE ID.
func writeReadyFile(path string, id *Identity) error {
	return atomicfile.WriteFile(path, []byte(id.SPIFFEID+"\n"), 0o444)
}

// writeTerminationLog writes line to path when path already exists (the kubelet creates it), so
// `kubectl describe pod` shows why seal-init failed.
func writeTerminationLog(path, line string) {
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return
	}
	_, _ = f.WriteString(line)
	_ = f.Close()
}
