package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seal-dev/seal/internal/testing/testenv"
)

// helm returns the helm binary (testenv.Helm).
func helm(t *testing.T) string { t.Helper(); return testenv.Helm(t) }

func runHelm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(helm(t), args...)
	cmd.Dir = testenv.RepoRoot()
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	err := cmd.Run()
	if err != nil {
		return out.String(), errors.New(strings.TrimSpace(stderr.String()))
	}
	return out.String(), nil
}

// TestChart lints the chart and renders it with the value sets users choose, and checks that it
// refuses the combinations that would hurt them.
func TestChart(t *testing.T) {
	if testing.Short() {
		t.Skip("needs helm from make test")
	}
	if out, err := runHelm(t, "lint", "charts/seal", "--strict", "--set", "trustDomain=prod.example.org"); err != nil {
		t.Fatalf("helm lint: %v\n%s", err, out)
	}
	renders := []struct {
		name      string
		set       []string
		wantKinds []string
		wantNot   []string
	}{
		{"workload cluster (defaults)", nil,
			[]string{"Deployment/seal-webhook", "PodDisruptionBudget/seal-webhook", "MutatingWebhookConfiguration/seal-webhook", "ValidatingWebhookConfiguration/seal-webhook"},
			[]string{"Deployment/seal-rot", "ServiceMonitor/seal"}},
		{"trusted cluster", []string{"rot.enabled=true", "rot.externalURL=https://rot.example.org:8443", "webhook.enabled=false"},
			[]string{"Deployment/seal-rot", "Service/seal-rot", "Role/seal-rot"},
			[]string{"Deployment/seal-webhook", "MutatingWebhookConfiguration/seal-webhook"}},
		{"no image policy", []string{"webhook.imagePolicy.enabled=false"},
			[]string{"MutatingWebhookConfiguration/seal-webhook"},
			[]string{"ValidatingWebhookConfiguration/seal-webhook"}},
		{"service monitor", []string{"serviceMonitor.enabled=true"},
			[]string{"ServiceMonitor/seal"}, nil},
		{"route host allow-list", []string{"webhook.routeHostsAllowed={*.apps.example.com,pay.example.org}"},
			[]string{"Deployment/seal-webhook"}, nil},
	}
	for _, r := range renders {
		t.Run(r.name, func(t *testing.T) {
			out, err := render(t, r.set...)
			if err != nil {
				t.Fatalf("helm template: %v", err)
			}
			kinds := kindsOf(t, out)
			for _, k := range r.wantKinds {
				if !kinds[k] {
					t.Errorf("rendered chart lacks %s; has %v", k, keys(kinds))
				}
			}
			for _, k := range r.wantNot {
				if kinds[k] {
					t.Errorf("rendered chart has %s, want none", k)
				}
			}
		})
	}
	refusals := []struct {
		name    string
		set     []string
		wantErr string
	}{
		{"no trust domain", []string{"trustDomain="}, "trustDomain is required"},
		{"ROT and webhook in one namespace", []string{"rot.enabled=true", "rot.externalURL=https://rot.example.org"}, "would put seal-webhook beside the ROT's CA keys"},
		{"ROT and webhook in one namespace, no pull secrets", []string{"rot.enabled=true", "rot.externalURL=https://rot.example.org", "webhook.readPullSecrets=false"}, "install the ROT on its own"},
		{"ROT without external URL", []string{"rot.enabled=true", "webhook.enabled=false"}, "rot.externalURL is required"},
		{"bad route host pattern", []string{"webhook.routeHostsAllowed={bad_host.example.com}"}, "routeHostsAllowed"},
		{"bad failure policy", []string{"webhook.failurePolicy=Sometimes"}, "failurePolicy"},
		{"unknown value", []string{"webhook.replica=3"}, "replica"},
	}
	for _, r := range refusals {
		t.Run(r.name, func(t *testing.T) {
			_, err := render(t, r.set...)
			if err == nil || !strings.Contains(err.Error(), r.wantErr) {
				t.Fatalf("helm template: got error %v, want one containing %q", err, r.wantErr)
			}
		})
	}
}

// chartKubeVersion is the oldest Kubernetes the chart declares (Chart.yaml kubeVersion):
// helm template assumes v1.20 without --kube-version.
const chartKubeVersion = testenv.ChartKubeVersion

func render(t *testing.T, set ...string) (string, error) { return renderIn(t, "seal-system", set...) }

func renderIn(t *testing.T, ns string, set ...string) (string, error) {
	args := []string{"template", "seal", "charts/seal", "--namespace", ns, "--include-crds", "--kube-version", chartKubeVersion, "--set", "trustDomain=prod.example.org"}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	return runHelm(t, args...)
}

func objects(t *testing.T, manifest string) []*unstructured.Unstructured {
	t.Helper()
	var objs []*unstructured.Unstructured
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(manifest)))
	for {
		doc, err := r.Read()
		if err == io.EOF {
			return objs
		}
		if err != nil {
			t.Fatalf("reading rendered YAML: %v", err)
		}
		u := &unstructured.Unstructured{}
		if err := utilyaml.Unmarshal(doc, &u.Object); err != nil {
			t.Fatalf("decoding rendered YAML: %v\n%s", err, doc)
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
}

func kindsOf(t *testing.T, manifest string) map[string]bool {
	m := map[string]bool{}
	for _, o := range objects(t, manifest) {
		m[o.GetKind()+"/"+o.GetName()] = true
	}
	return m
}

func keys(m map[string]bool) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// TestManifestsApply applies the plain install (manifests/, rendered from the chart) and the
// trusted-cluster rendering to a real API server: every object must be accepted, and the
// webhook configurations must call the seal-webhook Service.
func TestManifestsApply(t *testing.T) {
	env := testenv.Start(t, testenv.Options{NoCRDs: true, NoControllerManager: true})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "manifests", "seal.yaml"))
	if err != nil {
		t.Fatalf("manifests/seal.yaml: %v (run make manifests)", err)
	}
	rot, err := renderIn(t, "seal-rot", "rot.enabled=true", "rot.externalURL=https://rot.example.org:8443", "webhook.enabled=false")
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"seal-system", "seal-rot"} {
		if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	all := objects(t, string(raw))
	for _, o := range objects(t, rot) {
		if o.GetKind() != "CustomResourceDefinition" {
			all = append(all, o)
		}
	}
	for _, o := range all {
		if o.GetKind() == "ServiceMonitor" {
			continue
		}
		if err := env.Client.Create(ctx, o); err != nil {
			t.Errorf("the API server refused %s %s: %v", o.GetKind(), o.GetName(), err)
		}
	}
	var mwc admissionv1.MutatingWebhookConfiguration
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "seal-webhook"}, &mwc); err != nil {
		t.Fatalf("MutatingWebhookConfiguration seal-webhook: %v", err)
	}
	var vwc admissionv1.ValidatingWebhookConfiguration
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "seal-webhook"}, &vwc); err != nil {
		t.Fatalf("ValidatingWebhookConfiguration seal-webhook: %v", err)
	}
	var refs []admissionv1.WebhookClientConfig
	for _, w := range mwc.Webhooks {
		refs = append(refs, w.ClientConfig)
		if w.FailurePolicy == nil || *w.FailurePolicy != admissionv1.Fail || w.SideEffects == nil || *w.SideEffects != admissionv1.SideEffectClassNone {
			t.Errorf("webhook %s: failurePolicy %v sideEffects %v, want Fail and None", w.Name, w.FailurePolicy, w.SideEffects)
		}
	}
	for _, w := range vwc.Webhooks {
		refs = append(refs, w.ClientConfig)
	}
	for _, cc := range refs {
		if cc.Service == nil || cc.Service.Name != "seal-webhook" || cc.Service.Namespace != "seal-system" {
			t.Errorf("webhook client config %+v does not call the seal-webhook Service in seal-system", cc)
		}
	}
}

// TestChartOnCluster installs the chart with helm into a real API server the documented way
// (the ROT in seal-rot, the webhook in seal-system) and checks what needs the cluster: the
// guards that look for a running ROT (helm lookup) and the Secrets the webhook may touch.
func TestChartOnCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("needs helm from make test")
	}
	helm(t)
	env := testenv.Start(t, testenv.Options{NoControllerManager: true})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	install := func(release, ns string, set ...string) error {
		t.Helper()
		// testenv installed the CRDs: these releases leave them alone.
		args := []string{"install", release, "charts/seal", "--kubeconfig", env.Kubeconfig, "-n", ns, "--create-namespace",
			"--set", "trustDomain=prod.example.org", "--set", "crds.enabled=false"}
		for _, s := range set {
			args = append(args, "--set", s)
		}
		_, err := runHelm(t, args...)
		return err
	}
	if err := install("seal-rot", "seal-rot", "rot.enabled=true", "rot.externalURL=https://rot.example.org:8443", "webhook.enabled=false"); err != nil {
		t.Fatalf("installing the ROT as documented: %v", err)
	}
	// ROT state left by seal-rot --kube run outside the chart: a Secret, no Deployment.
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "old-rot"}}); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "old-rot", Name: "seal-rot-authority"}}); err != nil {
		t.Fatal(err)
	}
	refusals := []struct {
		name, release, ns string
		set               []string
		wantErr           string
	}{
		{"webhook in the ROT's namespace", "hook", "seal-rot", []string{"webhook.readPullSecrets=false"}, "a seal-rot already runs in namespace seal-rot"},
		{"webhook beside ROT state", "hook", "old-rot", []string{"webhook.readPullSecrets=false"}, "a seal-rot already runs in namespace old-rot"},
		{"webhook reading pull secrets in the ROT's cluster", "seal", "seal-system", nil, "a seal-rot runs in namespace seal-rot of this cluster"},
	}
	for _, r := range refusals {
		t.Run(r.name, func(t *testing.T) {
			err := install(r.release, r.ns, r.set...)
			if err == nil || !strings.Contains(err.Error(), r.wantErr) {
				t.Fatalf("helm install: got error %v, want one containing %q", err, r.wantErr)
			}
		})
	}
	if err := install("seal", "seal-system", "webhook.readPullSecrets=false", "webhook.routeHostsAllowed={*.apps.example.com}"); err != nil {
		t.Fatalf("installing the webhook without pull secrets beside a ROT's namespace: %v", err)
	}
	t.Run("ROT in the webhook's namespace", func(t *testing.T) {
		err := install("rot2", "seal-system", "rot.enabled=true", "rot.externalURL=https://rot.example.org:8443", "webhook.enabled=false")
		if want := "seal-webhook runs in namespace seal-system"; err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("helm install: got error %v, want one containing %q", err, want)
		}
	})
	t.Run("the webhook's Secret rights", func(t *testing.T) {
		const webhookSA = "system:serviceaccount:seal-system:seal-webhook"
		checks := []struct {
			verb, group, resource, ns, name string
			want                            bool
		}{
			{"get", "", "secrets", "seal-rot", "seal-rot-authority", false},
			{"list", "", "secrets", "seal-rot", "", false},
			{"create", "", "secrets", "seal-rot", "seal-workload-payments", false},
			{"update", "", "secrets", "seal-rot", "seal-workload-payments", false},
			{"get", "", "secrets", "seal-system", "seal-webhook-ca", true},
			{"update", "", "secrets", "seal-system", "seal-webhook-ca", true},
			{"get", "", "secrets", "seal-system", "someone-else", false},
			{"update", "", "secrets", "seal-system", "someone-else", false},
			{"list", "seal.dev", "workloads", "", "", true},
		}
		for _, c := range checks {
			sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
				User: webhookSA, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:seal-system", "system:authenticated"},
				ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: c.verb, Group: c.group, Resource: c.resource, Namespace: c.ns, Name: c.name},
			}}
			if err := env.Client.Create(ctx, sar); err != nil {
				t.Fatal(err)
			}
			if sar.Status.Allowed != c.want {
				t.Errorf("seal-webhook may %s %s %s/%s: %v, want %v", c.verb, c.resource, c.ns, c.name, sar.Status.Allowed, c.want)
			}
		}
	})
	t.Run("route host allow-list reaches the webhook", func(t *testing.T) {
		var d appsv1.Deployment
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "seal-system", Name: "seal-webhook"}, &d); err != nil {
			t.Fatal(err)
		}
		args := strings.Join(d.Spec.Template.Spec.Containers[0].Args, " ")
		if !strings.Contains(args, "--route-hosts-allowed=*.apps.example.com") {
			t.Errorf("seal-webhook args %q lack --route-hosts-allowed=*.apps.example.com", args)
		}
	})
}
