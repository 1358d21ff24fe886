package testenv

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// WebhookConfigurations reads the MutatingWebhookConfiguration and ValidatingWebhookConfiguration
// of manifests/seal.yaml (rendered from the Helm chart by make manifests), so tests and the demo
// register exactly what users install. With paths, only the webhooks that call one of those
// paths are kept (a test server that serves /inject alone must not receive /pin reviews).
func WebhookConfigurations(paths ...string) (*admissionv1.MutatingWebhookConfiguration, *admissionv1.ValidatingWebhookConfiguration, error) {
	f := filepath.Join(RepoRoot(), "manifests", "seal.yaml")
	raw, err := os.ReadFile(f)
	if err != nil {
		return nil, nil, fmt.Errorf("testenv: %w (run make manifests)", err)
	}
	keep := func(cc admissionv1.WebhookClientConfig) bool {
		return len(paths) == 0 || (cc.Service != nil && cc.Service.Path != nil && slices.Contains(paths, *cc.Service.Path))
	}
	var m *admissionv1.MutatingWebhookConfiguration
	var v *admissionv1.ValidatingWebhookConfiguration
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(raw)))
	for {
		doc, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("testenv: %s: %w", f, err)
		}
		switch {
		case bytes.Contains(doc, []byte("\nkind: MutatingWebhookConfiguration")):
			m = &admissionv1.MutatingWebhookConfiguration{}
			if err := yaml.UnmarshalStrict(doc, m); err != nil {
				return nil, nil, fmt.Errorf("testenv: %s: %w", f, err)
			}
			m.Webhooks = slices.DeleteFunc(m.Webhooks, func(w admissionv1.MutatingWebhook) bool { return !keep(w.ClientConfig) })
		case bytes.Contains(doc, []byte("\nkind: ValidatingWebhookConfiguration")):
			v = &admissionv1.ValidatingWebhookConfiguration{}
			if err := yaml.UnmarshalStrict(doc, v); err != nil {
				return nil, nil, fmt.Errorf("testenv: %s: %w", f, err)
			}
			v.Webhooks = slices.DeleteFunc(v.Webhooks, func(w admissionv1.ValidatingWebhook) bool { return !keep(w.ClientConfig) })
		}
	}
	if m == nil || v == nil {
		return nil, nil, fmt.Errorf("testenv: %s lacks a Mutating or ValidatingWebhookConfiguration", f)
	}
	return m, v, nil
}

// CallAt makes every webhook of m and v call base+path (e.g. https://127.0.0.1:PORT) instead
// of the Service, trusting caBundle (nil leaves it to seal-webhook's certificate manager).
func CallAt(m *admissionv1.MutatingWebhookConfiguration, v *admissionv1.ValidatingWebhookConfiguration, base string, caBundle []byte) {
	at := func(cc *admissionv1.WebhookClientConfig) {
		path := ""
		if cc.Service != nil && cc.Service.Path != nil {
			path = *cc.Service.Path
		}
		u := base + path
		*cc = admissionv1.WebhookClientConfig{URL: &u, CABundle: caBundle}
	}
	if m != nil {
		for i := range m.Webhooks {
			at(&m.Webhooks[i].ClientConfig)
		}
	}
	if v != nil {
		for i := range v.Webhooks {
			at(&v.Webhooks[i].ClientConfig)
		}
	}
}
