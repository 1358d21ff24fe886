package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/seal-dev/seal/internal/version"

	corev1 "k8s.io/api/core/v1"

	"github.com/seal-dev/seal/internal/inject"
	"github.com/seal-dev/seal/internal/route"
	"github.com/seal-dev/seal/internal/verify"
)

// Exit codes of Main.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

const usageHead = `seal-webhook is Seal's admission webhook. It injects seal-init into the pods that ask for a
Seal identity (namespace label seal.dev/inject=enabled, or pod label seal.dev/inject=true, plus
the annotation seal.dev/workload), so each pod redeems its Egg at the ROT and finds its
certificate and keys in /var/run/seal. See docs/webhook.md.

Usage:
  seal-webhook --init-image IMAGE --trust-domain TD [flags]

Serving certificate, one of:
  --cert-dir DIR     tls.crt and tls.key from DIR (e.g. a cert-manager Secret), reloaded on change
  (default)          managed in-process: a CA in the Secret --ca-secret-name of --namespace,
                     a leaf for <service-name>.<namespace>.svc, and the caBundle patched into
                     --mutating-config-name and --validating-config-name

Example:
  seal-webhook --init-image ghcr.io/seal-dev/seal-init:v0.1.0 --trust-domain prod.example.org \
    --namespace seal-system --service-name seal-webhook

Flags:
`

type cliOptions struct {
	host, certDir, namespace, service, mutating, validating, caSecret string
	kubeconfig, metricsAddr, pprofAddr, logLevel, logFormat           string
	port                                                              int
	inject                                                            inject.Config
	pullPolicy, cpuRequest, memRequest, memLimit                      string
	shutdownGrace                                                     time.Duration

	imagePolicy        bool          // serve /pin and /verify (package imageadmission)
	imagePolicyNoMatch string        // verify.NoMatchAction
	policyReports      bool          // write wgpolicyk8s.io PolicyReports
	scanInterval       time.Duration // scan running pods this often (0: never)
	passthroughRoutes  bool          // run the passthrough-Route controller (package route)
	routeHostsAllowed  string        // route.Options.HostsAllowed, a comma list
}

func newFlagSet(o *cliOptions) *flag.FlagSet {
	fs := flag.NewFlagSet("seal-webhook", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	defNS := os.Getenv("POD_NAMESPACE")
	if defNS == "" {
		defNS = "seal-system"
	}
	fs.StringVar(&o.host, "host", "", "listen on this `address` (default all)")
	fs.IntVar(&o.port, "port", 9443, "serve the admission webhooks (HTTPS) on this `port`")
	fs.StringVar(&o.certDir, "cert-dir", "", "take tls.crt and tls.key from this `directory` instead of managing the certificate")
	fs.StringVar(&o.namespace, "namespace", defNS, "the webhook's own `namespace` (never injected; holds the CA Secret)")
	fs.StringVar(&o.service, "service-name", "seal-webhook", "the webhook's Service `name` (the managed certificate's DNS names)")
	fs.StringVar(&o.mutating, "mutating-config-name", "seal-webhook", "MutatingWebhookConfiguration `name` to patch the caBundle into (empty: none)")
	fs.StringVar(&o.validating, "validating-config-name", "seal-webhook", "ValidatingWebhookConfiguration `name` to patch the caBundle into (empty: none)")
	fs.StringVar(&o.caSecret, "ca-secret-name", "seal-webhook-ca", "Secret `name` holding the managed serving CA")
	fs.StringVar(&o.inject.Image, "init-image", "", "seal-init `image` to inject (required)")
	fs.StringVar(&o.inject.Binary, "init-binary", inject.DefaultBinary, "`path` of seal-init inside --init-image")
	fs.StringVar(&o.inject.AgentBinary, "agent-binary", inject.DefaultAgentBinary, "`path` of seal-agent inside --init-image (the rotating sidecar with the SPIFFE Workload API)")
	fs.StringVar(&o.pullPolicy, "init-image-pull-policy", "", "`policy` for --init-image: Always, IfNotPresent or Never (default: Kubernetes' default)")
	fs.StringVar(&o.cpuRequest, "init-cpu-request", inject.DefaultCPURequest, "CPU `quantity` requested by seal-init")
	fs.StringVar(&o.memRequest, "init-memory-request", inject.DefaultMemoryRequest, "memory `quantity` requested by seal-init")
	fs.StringVar(&o.memLimit, "init-memory-limit", inject.DefaultMemoryLimit, "memory limit `quantity` of seal-init")
	fs.StringVar(&o.inject.TPM, "tpm", inject.DefaultTPM, "the nodes' TPM for pods annotated seal.dev/attest: tpm2: a device `path` mounted into seal-init only, or tcp:HOST:PORT")
	fs.StringVar(&o.inject.TrustDomain, "trust-domain", "", "SPIFFE `trust-domain` of the ROT, for SEAL_SPIFFE_ID (required)")
	fs.StringVar(&o.inject.TokenAudience, "token-audience", inject.DefaultTokenAudience, "`audience` of the projected ServiceAccount token mounted into seal-init only (the ROT's cluster --audience; docs/binding.md)")
	fs.StringVar(&o.metricsAddr, "metrics-addr", ":8080", "serve /metrics, /healthz and /readyz over HTTP on this `address` (empty: off)")
	fs.StringVar(&o.pprofAddr, "pprof-addr", "", "serve Go's net/http/pprof profiles over HTTP on this `address`, e.g. 127.0.0.1:6060 (empty: off; never expose it)")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig `file` (default: in-cluster, $KUBECONFIG or ~/.kube/config)")
	fs.StringVar(&o.logLevel, "log-level", "info", "log `level`: debug, info, warn or error")
	fs.StringVar(&o.logFormat, "log-format", "text", "log `format`: text or json (one JSON object per line, for log collectors)")
	fs.DurationVar(&o.shutdownGrace, "shutdown-grace", 5*time.Second, "on SIGTERM, keep serving this `duration` before draining (endpoints catch up)")
	fs.BoolVar(&o.imagePolicy, "image-policy", true, "serve /pin and /verify: only images an ImagePolicy or ApprovedImage approves run in enforced namespaces")
	fs.StringVar(&o.imagePolicyNoMatch, "image-policy-no-match", string(verify.NoMatchDeny), "`action` for images no ImagePolicy matches in enforced namespaces: deny, warn or allow")
	fs.BoolVar(&o.policyReports, "policy-reports", false, "write the warn-mode and denied images of each enforced namespace to its wgpolicyk8s.io/v1alpha2 PolicyReport seal-image-policy (Kyverno's Policy Reporter reads them; the CRD must be installed)")
	fs.DurationVar(&o.scanInterval, "scan-interval", 0, "check the images of running pods in enforced namespaces this `often` against the policies in force, into the PolicyReports (needs --policy-reports; 0: never)")
	fs.BoolVar(&o.passthroughRoutes, "passthrough-routes", true, "create OpenShift passthrough Routes for Services annotated "+route.AnnotationHost)
	fs.StringVar(&o.routeHostsAllowed, "route-hosts-allowed", "", "comma list of `hosts` that Services of opted-in namespaces (seal.dev/routes=enabled or seal.dev/inject=enabled) may get passthrough Routes for, besides the routeHosts of Workloads; * and ? match within one DNS label, e.g. *.apps.example.com")
	return fs
}

func printUsage(fs *flag.FlagSet, w io.Writer) {
	fmt.Fprint(w, usageHead)
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if name != "" {
			line += " " + name
		}
		if f.DefValue != "" && f.DefValue != "0" {
			usage += " (default " + f.DefValue + ")"
		}
		fmt.Fprintf(w, "%-34s %s\n", line, usage)
	})
}

func (o *cliOptions) complete(fs *flag.FlagSet) error {
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.scanInterval < 0 || (o.scanInterval > 0 && !o.policyReports) {
		return fmt.Errorf("--scan-interval %v: want a positive duration, with --policy-reports (the scan writes PolicyReports)", o.scanInterval)
	}
	o.inject.PullPolicy = corev1.PullPolicy(o.pullPolicy)
	res, err := inject.ParseResources(o.cpuRequest, o.memRequest, o.memLimit)
	if err != nil {
		return err
	}
	o.inject.Resources = res
	o.inject.Namespace = o.namespace
	o.inject.Version = version.Get()
	if err := o.inject.Validate(); err != nil {
		return err
	}
	if o.port <= 0 || o.port > 65535 {
		return fmt.Errorf("bad --port %d", o.port)
	}
	return nil
}
