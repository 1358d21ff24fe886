// Command seal-webhook is Seal's admission webhook: it injects seal-init into the pods that ask
// for a Seal identity, pins and verifies images against ImagePolicies and ApprovedImages, and
// creates OpenShift passthrough Routes. One controller-runtime Manager holds it together: one
// cache (one Namespace informer for every feature), one webhook server (/inject, /pin,
// /verify), one metrics server that also answers the probes. See docs/webhook.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	crconfig "sigs.k8s.io/controller-runtime/pkg/client/config"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/seal-dev/seal/internal/version"
)

func main() {
	if version.Requested(os.Args[1:]) {
		fmt.Println(version.String("seal-webhook"))
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	code := Main(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

// Main runs seal-webhook with args (without the program name) until ctx ends; it returns the
// exit code.
func Main(ctx context.Context, args []string, stderr io.Writer) int {
	var o cliOptions
	fs := newFlagSet(&o)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(fs, stderr)
			return ExitOK
		}
		fmt.Fprintf(stderr, "seal-webhook: %v (see seal-webhook --help)\n", err)
		return ExitUsage
	}
	if err := o.complete(fs); err != nil {
		fmt.Fprintf(stderr, "seal-webhook: %v (see seal-webhook --help)\n", err)
		return ExitUsage
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		fmt.Fprintf(stderr, "seal-webhook: bad --log-level %q (see seal-webhook --help)\n", o.logLevel)
		return ExitUsage
	}
	var handler slog.Handler
	switch o.logFormat {
	case "text":
		handler = slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})
	case "json":
		handler = slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level})
	default:
		fmt.Fprintf(stderr, "seal-webhook: bad --log-format %q: want text or json (see seal-webhook --help)\n", o.logFormat)
		return ExitUsage
	}
	log := slog.New(handler)
	slog.SetDefault(log)
	ctrllog.SetLogger(logr.FromSlogHandler(log.Handler()))
	klog.SetSlogLogger(log)
	cfg, err := restConfig(o.kubeconfig)
	if err != nil {
		fmt.Fprintf(stderr, "seal-webhook: kubernetes config: %v\n", err)
		return ExitFailure
	}
	if err := run(ctx, cfg, &o, log); err != nil {
		fmt.Fprintf(stderr, "seal-webhook: %v\n", err)
		return ExitFailure
	}
	return ExitOK
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		return clientcmd.BuildConfigFromFlags("", kubeconfig)
	}
	return crconfig.GetConfig()
}
