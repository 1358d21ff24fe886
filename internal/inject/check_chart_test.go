package inject_test

import (
	"bytes"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/seal-dev/seal/internal/inject"
	"github.com/seal-dev/seal/internal/testing/testenv"
)

// chartInjectWebhooks renders the chart with helm, as seal-system, and returns the injection
// entries of its MutatingWebhookConfiguration.
func chartInjectWebhooks(t *testing.T) []admissionregistrationv1.MutatingWebhook {
	t.Helper()
	cmd := exec.Command(testenv.Helm(t), "template", "seal", filepath.Join("..", "..", "charts", "seal"),
		"--namespace", "seal-system", "--kube-version", testenv.ChartKubeVersion, "--set", "trustDomain=prod.example.org")
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("helm template: %v: %s", err, stderr.String())
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(&out, 4096)
	for {
		var mwc admissionregistrationv1.MutatingWebhookConfiguration
		err := dec.Decode(&mwc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if mwc.Kind != "MutatingWebhookConfiguration" {
			continue
		}
		var hooks []admissionregistrationv1.MutatingWebhook
		for _, w := range mwc.Webhooks {
			if w.Name == inject.WebhookNamespace || w.Name == inject.WebhookPod {
				hooks = append(hooks, w)
			}
		}
		if len(hooks) != 2 {
			t.Fatalf("the chart has %d injection entries, want %s and %s", len(hooks), inject.WebhookNamespace, inject.WebhookPod)
		}
		return hooks
	}
	t.Fatal("the chart renders no MutatingWebhookConfiguration")
	return nil
}

// TestCheckAgreesWithTheChart: for every combination of namespace and pod labels, the entry
// inject.Check says reviews a pod is the one entry of the chart's MutatingWebhookConfiguration
// whose namespaceSelector and objectSelector match it, as the API server matches them; none
// when Check says the pod is not reviewed.
func TestCheckAgreesWithTheChart(t *testing.T) {
	if testing.Short() {
		t.Skip("needs helm from make test")
	}
	hooks := chartInjectWebhooks(t)
	sel := func(s *metav1.LabelSelector) labels.Selector {
		if s == nil {
			return labels.Everything()
		}
		out, err := metav1.LabelSelectorAsSelector(s)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	cfg := inject.Config{Image: "seal-init", TrustDomain: "prod.example.org", Namespace: "seal-system"}.WithDefaults()
	n := 0
	for _, nsName := range []string{"shop", "kube-system", "kube-public", "kube-node-lease", "seal-system"} {
		for _, nsLabel := range []string{"", inject.NamespaceEnabled, "true", "disabled"} {
			for _, podLabel := range []string{"", "true", "false", "yes"} {
				for _, workload := range []string{"", "payments"} {
					nsLabels := map[string]string{"kubernetes.io/metadata.name": nsName}
					if nsLabel != "" {
						nsLabels[inject.LabelInject] = nsLabel
					}
					pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}}}
					pod.Labels = map[string]string{"app": "web"}
					if podLabel != "" {
						pod.Labels[inject.LabelInject] = podLabel
					}
					if workload != "" {
						pod.Annotations = map[string]string{inject.AnnotationWorkload: workload}
					}
					var matched []string
					for _, w := range hooks {
						if sel(w.NamespaceSelector).Matches(labels.Set(nsLabels)) && sel(w.ObjectSelector).Matches(labels.Set(pod.Labels)) {
							matched = append(matched, w.Name)
						}
					}
					d, err := inject.Check(pod, inject.Namespace{Name: nsName, Labels: nsLabels}, &cfg)
					if err != nil {
						t.Fatal(err)
					}
					want := strings.Join(matched, ",")
					if d.Webhook != want {
						t.Errorf("namespace %s (seal.dev/inject=%q), pod seal.dev/inject=%q workload %q: Check says entry %q (skip %q), the chart's selectors match %q",
							nsName, nsLabel, podLabel, workload, d.Webhook, d.Result.Skipped, want)
					}
					n++
				}
			}
		}
	}
	t.Logf("%d combinations agree", n)
}
