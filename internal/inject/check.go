package inject

import (
	"errors"

	corev1 "k8s.io/api/core/v1"
)

// The names of the two injection entries of seal-webhook's MutatingWebhookConfiguration
// (charts/seal/templates/webhookconfigurations.yaml).
const (
	// WebhookNamespace reviews pods of namespaces labelled seal.dev/inject=enabled whose own
	// label seal.dev/inject is neither "true" nor "false".
	WebhookNamespace = "inject-namespace.seal.dev"
	// WebhookPod reviews pods labelled seal.dev/inject=true in any namespace but the system ones.
	WebhookPod = "inject-pod.seal.dev"
)

// Decision is what Seal does with a pod being created: which webhook entry the API server
// sends it to (its selectors), then what Mutate answers.
type Decision struct {
	// Webhook is the entry that reviews the pod (WebhookNamespace or WebhookPod), or "" when
	// no entry's selectors match and the API server never calls seal-webhook.
	Webhook string
	// Result is Mutate's answer (Skipped set when the pod is left alone, Patch when injected).
	Result Result
	// Refusal is set when the pod is denied: the webhook answers it as the pod's error.
	Refusal *RefusalError
}

// Injected reports whether the pod gets a Seal identity.
func (d Decision) Injected() bool { return d.Result.Patch != nil }

// Check decides as the admission chain does: the selectors of the chart's
// MutatingWebhookConfiguration first (a pod no entry selects is never reviewed, whatever its
// labels say), then Mutate. cfg.Namespace is seal-webhook's own namespace, which the chart
// excludes as it does the system namespaces. An error other than a refusal is returned as is.
func Check(pod *corev1.Pod, ns Namespace, cfg *Config) (Decision, error) {
	system := systemNamespaces[ns.Name] || (cfg.Namespace != "" && ns.Name == cfg.Namespace)
	label, labelled := pod.Labels[LabelInject]
	var d Decision
	switch {
	case system:
		d.Result.Skipped = SkipSystemNamespace
		return d, nil
	case label == "true":
		d.Webhook = WebhookPod
	case ns.Labels[LabelInject] == NamespaceEnabled && label != "false":
		d.Webhook = WebhookNamespace
	case labelled && label == "false":
		d.Result.Skipped = SkipOptedOut
		return d, nil
	default:
		// Includes a pod label other than true/false outside enabled namespaces: no entry
		// matches, so the API server does not ask and Mutate's refusal never happens.
		d.Result.Skipped = SkipNotSelected
		return d, nil
	}
	if pod.Spec.ServiceAccountName == "" {
		// The API server's ServiceAccount admission runs before webhooks and sets it.
		p := *pod
		p.Spec.ServiceAccountName = "default"
		pod = &p
	}
	res, err := Mutate(pod, ns, cfg)
	var refusal *RefusalError
	if errors.As(err, &refusal) {
		d.Refusal = refusal
		return d, nil
	}
	d.Result = res
	return d, err
}
