package sealctl

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/seal-dev/seal/internal/inject"
)

// webhookConfigName is the chart's MutatingWebhookConfiguration.
const webhookConfigName = "seal-webhook"

// checkReport is check-inject's answer for one pod.
type checkReport struct {
	Namespace string   `json:"namespace"`
	Pod       string   `json:"pod"`
	Kind      string   `json:"kind,omitempty"` // of a -f object that is not a Pod
	Injected  bool     `json:"injected"`
	Webhook   string   `json:"webhook,omitempty"` // the webhook entry that reviews it
	Reason    string   `json:"reason"`            // injected, a skip reason, or refused
	Why       string   `json:"why"`
	Fix       string   `json:"fix,omitempty"`
	Workload  string   `json:"workload,omitempty"`
	Peer      string   `json:"peer,omitempty"`
	Egg       string   `json:"egg,omitempty"`
	Warnings  []string `json:"warnings,omitempty"`
}

// Reasons of a report besides the skip reasons.
const (
	reasonInjected = "injected"
	reasonRefused  = "refused"
	reasonMissed   = "missed" // a live pod Seal would inject now but did not
)

type explanation struct{ reason, why, fix string }

// explain names why Seal does what it does with a pod of namespace ns, and the fix.
func explain(d inject.Decision, ns string) explanation {
	if d.Refusal != nil {
		return explanation{reasonRefused, fmt.Sprintf("%s=%q %s: seal-webhook denies the pod", d.Refusal.Key, d.Refusal.Value, d.Refusal.Problem), d.Refusal.Fix}
	}
	if d.Injected() {
		s := d.Result.Status
		return explanation{reasonInjected, fmt.Sprintf("selected by %s: seal-init redeems Egg %s for workload %s peer %s", d.Webhook, s.Egg, s.Workload, s.Peer), ""}
	}
	switch d.Result.Skipped {
	case inject.SkipSystemNamespace:
		return explanation{string(d.Result.Skipped),
			"namespace " + ns + " is a system namespace (kube-system, kube-public, kube-node-lease) or seal-webhook's own: never injected, whatever the labels say",
			"run the workload in another namespace"}
	case inject.SkipOptedOut:
		return explanation{string(d.Result.Skipped), `the pod is labelled seal.dev/inject=false (opted out)`,
			`remove the label, or set it to "true"`}
	case inject.SkipNoWorkload:
		return explanation{string(d.Result.Skipped),
			"namespace " + ns + " is labelled seal.dev/inject=enabled but the pod has no seal.dev/workload annotation; namespace-selected pods without one are left alone",
			"annotate the pod (template) seal.dev/workload: <workload-name>"}
	case inject.SkipAlreadyInjected:
		return explanation{string(d.Result.Skipped), "the pod carries seal.dev/status: it was injected already", ""}
	}
	return explanation{string(inject.SkipNotSelected),
		"namespace " + ns + " is not labelled seal.dev/inject=enabled and the pod is not labelled seal.dev/inject=true: no seal-webhook entry selects it, so the API server never asks",
		"kubectl label namespace " + ns + " seal.dev/inject=enabled (and annotate the pod template seal.dev/workload: <name>), or label the pod template seal.dev/inject: \"true\""}
}

// report turns a decision into what check-inject prints. live is true for a pod read from the
// API server, which was created already: its seal.dev/status says whether it was injected.
func report(d inject.Decision, ns, pod string, p *corev1.Pod, live bool) checkReport {
	e := explain(d, ns)
	r := checkReport{Namespace: ns, Pod: pod, Injected: d.Injected(), Webhook: d.Webhook, Reason: e.reason, Why: e.why, Fix: e.fix, Warnings: d.Result.Warnings}
	if d.Injected() {
		r.Workload, r.Peer, r.Egg = d.Result.Status.Workload, d.Result.Status.Peer, d.Result.Status.Egg
	}
	if !live {
		return r
	}
	switch {
	case d.Result.Skipped == inject.SkipAlreadyInjected:
		r.Injected, r.Reason = true, reasonInjected
		r.Why = "the pod carries seal.dev/status: " + p.Annotations[inject.AnnotationStatus]
	case d.Injected():
		r.Injected, r.Reason = false, reasonMissed
		r.Why = "Seal would inject this pod now (" + d.Webhook + "), but it has no seal.dev/status: it was created before its namespace or template was labelled, or seal-webhook did not answer and the webhook's failurePolicy is Ignore"
		r.Fix = "recreate the pod (kubectl rollout restart the owner); if it happens again, see seal-webhook's logs and seal_webhook_requests_total"
	}
	return r
}

func (a *app) checkInjectCommand() *cobra.Command {
	var (
		f                        injectFlags
		file, nsf, kubecfg, kctx string
	)
	cmd := &cobra.Command{
		Use:   "check-inject [-n NAMESPACE] POD | -f FILE [--namespace-labels k=v,...]",
		Short: "Say why a pod was (or would be) injected or not (like istioctl x check-inject)",
		Long: `check-inject explains Seal's decision for a pod: whether seal-webhook injects it, which
webhook entry reviews it, and, when it does not, the reason and the fix:

  system-namespace  kube-system, kube-public, kube-node-lease or seal-webhook's own namespace
  not-selected      neither the namespace (seal.dev/inject=enabled) nor the pod (seal.dev/inject=true) asks
  opted-out         the pod is labelled seal.dev/inject=false
  no-workload       the namespace asks, but the pod has no seal.dev/workload annotation
  already-injected  the pod carries seal.dev/status
  refused           the pod asks with a setting that cannot work: seal-webhook denies it
  missed            (live pods) Seal would inject it now, but it was not

With POD it reads the pod and its namespace from the cluster of your kubeconfig (--kubeconfig,
--context, -n as with kubectl; the namespace defaults to the context's), and seal-webhook's
namespace from its MutatingWebhookConfiguration. With -f it decides offline for each Pod or
pod template of the file (Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs, CronJobs),
given the namespace's labels with --namespace-labels.

The decision is seal-webhook's own: the selectors of its webhook configuration, then the
injector (package inject). Exit code 0 when the check ran, whatever it found.`,
		Example: `  sealctl check-inject -n shop web-7d9f8-abcde
  kubectl seal check-inject -n shop web-7d9f8-abcde
  sealctl check-inject -f deploy.yaml --namespace-labels seal.dev/inject=enabled -o json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, argv []string) error {
			cfg, err := f.config(true)
			if err != nil {
				return err
			}
			var reports []checkReport
			switch {
			case file != "" && len(argv) > 0:
				return usagef("check-inject takes POD or -f FILE, not both")
			case file != "":
				objs, err := a.readManifest(file)
				if err != nil {
					return err
				}
				for _, o := range objs {
					d, err := f.decide(o, nsf, cfg)
					if err != nil {
						return err
					}
					r := report(d, o.ns, o.name, nil, false)
					if o.kind != "Pod" {
						r.Kind = o.kind
					}
					reports = append(reports, r)
				}
			case len(argv) == 1 && argv[0] != "":
				if len(f.nsLabels) > 0 {
					return usagef("--namespace-labels is for -f: with POD the namespace's labels are read from the cluster")
				}
				r, err := a.checkLive(cmd.Context(), kubecfg, kctx, nsf, argv[0], cfg)
				if err != nil {
					return err
				}
				reports = append(reports, r)
			default:
				return usagef("check-inject needs POD or -f FILE (see sealctl check-inject --help)")
			}
			return a.showReports(reports)
		},
	}
	cmd.Flags().StringVarP(&file, "filename", "f", "", "decide offline for the Pods and pod templates of this manifest (- for stdin)")
	cmd.Flags().StringVarP(&nsf, "namespace", "n", "", "namespace of the pod (default: the kubeconfig context's; with -f, objects that name none: \"default\")")
	cmd.Flags().StringVar(&kubecfg, "kubeconfig", "", "kubeconfig file (default $KUBECONFIG or ~/.kube/config)")
	cmd.Flags().StringVar(&kctx, "context", "", "kubeconfig context (default the current context)")
	f.add(cmd)
	return cmd
}

// checkLive reads the pod, its namespace and seal-webhook's configuration from the cluster.
func (a *app) checkLive(ctx context.Context, kubecfg, kctx, nsFlag, name string, cfg *inject.Config) (checkReport, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubecfg
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: kctx})
	ns := nsFlag
	if ns == "" {
		var err error
		if ns, _, err = cc.Namespace(); err != nil {
			return checkReport{}, usageError{fmt.Errorf("kubeconfig: %w", err)}
		}
	}
	rc, err := cc.ClientConfig()
	if err != nil {
		return checkReport{}, usageError{fmt.Errorf("kubeconfig: %w", err)}
	}
	rc.Timeout = a.timeout
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return checkReport{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	pod, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return checkReport{}, fmt.Errorf("reading pod %s/%s: %w", ns, name, err)
	}
	nsObj, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil {
		return checkReport{}, fmt.Errorf("reading namespace %s: %w", ns, err)
	}
	c := *cfg
	mwc, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, webhookConfigName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		a.hint("note: MutatingWebhookConfiguration %s does not exist: seal-webhook is not installed in this cluster, so no pod is injected", webhookConfigName)
	case err != nil:
		a.hint("note: cannot read MutatingWebhookConfiguration %s (%v); assuming seal-webhook runs in namespace %s (--webhook-namespace)", webhookConfigName, err, c.Namespace)
	default:
		for _, w := range mwc.Webhooks {
			if (w.Name == inject.WebhookNamespace || w.Name == inject.WebhookPod) && w.ClientConfig.Service != nil {
				c.Namespace = w.ClientConfig.Service.Namespace
			}
		}
	}
	d, err := inject.Check(pod, inject.Namespace{Name: ns, Labels: nsObj.Labels}, &c)
	if err != nil {
		return checkReport{}, err
	}
	return report(d, ns, pod.Name, pod, true), nil
}

func (a *app) showReports(rs []checkReport) error {
	var v any = rs
	if len(rs) == 1 {
		v = rs[0]
	}
	return a.show(v, func(w io.Writer) {
		for i, r := range rs {
			if i > 0 {
				row(w)
			}
			name := r.Namespace + "/" + r.Pod
			if r.Kind != "" {
				name = r.Kind + " " + name
			}
			row(w, "POD", name)
			row(w, "INJECTED", map[bool]string{true: "yes", false: "no"}[r.Injected])
			row(w, "REASON", r.Reason)
			row(w, "WHY", r.Why)
			if r.Fix != "" {
				row(w, "FIX", r.Fix)
			}
			if r.Webhook != "" {
				row(w, "WEBHOOK", r.Webhook)
			}
			if len(r.Warnings) > 0 {
				row(w, "WARNINGS", strings.Join(r.Warnings, "; "))
			}
		}
	})
}

// invokedAs is the program's name as run (os.Args[0]); tests replace it.
var invokedAs = func() string { return os.Args[0] }

// PluginName is the file name under which kubectl finds sealctl as its "seal" plugin.
const PluginName = "kubectl-seal"

// addInjectCommands adds check-inject and inject to root and, when sealctl runs as the kubectl
// plugin (a link named kubectl-seal on $PATH), makes its usage read "kubectl seal …".
func (a *app) addInjectCommands(root *cobra.Command) {
	root.AddCommand(a.checkInjectCommand(), a.injectCommand())
	if filepath.Base(invokedAs()) == PluginName {
		if root.Annotations == nil {
			root.Annotations = map[string]string{}
		}
		root.Annotations[cobra.CommandDisplayNameAnnotation] = "kubectl seal"
	}
}
