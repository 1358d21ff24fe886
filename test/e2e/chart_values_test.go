package e2e

import (
	"context"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/seal-dev/seal/internal/testing/testenv"
)

const testRegistry = "registry.example.com/seal"

// TestChartImagesMatchRelease: the images the chart runs by default are exactly the references
// `make images` pushes for the same version (the chart's appVersion), so an install after
// `make images REGISTRY=...` pulls what was pushed.
func TestChartImagesMatchRelease(t *testing.T) {
	if testing.Short() {
		t.Skip("needs helm from make test")
	}
	cmd := exec.Command("make", "-s", "images", "REGISTRY="+testRegistry, "DRY_RUN=1")
	cmd.Dir = testenv.RepoRoot()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make images DRY_RUN=1: %v\n%s", err, out)
	}
	pushed := strings.Fields(string(out))
	var rendered []string
	for _, set := range [][]string{
		{"image.registry=" + testRegistry},
		{"image.registry=" + testRegistry, "rot.enabled=true", "rot.externalURL=https://rot.example.org", "webhook.enabled=false"},
	} {
		manifest, err := render(t, set...)
		if err != nil {
			t.Fatalf("helm template %v: %v", set, err)
		}
		for _, d := range deployments(t, manifest) {
			for _, c := range d.Spec.Template.Spec.Containers {
				rendered = append(rendered, c.Image)
				for _, a := range c.Args {
					if img, ok := strings.CutPrefix(a, "--init-image="); ok {
						rendered = append(rendered, img)
					}
				}
			}
		}
	}
	slices.Sort(pushed)
	slices.Sort(rendered)
	if !slices.Equal(pushed, rendered) {
		t.Errorf("chart runs images %q, make images pushes %q", rendered, pushed)
	}
	for _, r := range pushed {
		if !strings.Contains(r, ":v") {
			t.Errorf("make images pushes %s, want a v-prefixed tag (as docs/install.md shows)", r)
		}
	}
}

// TestChartValues renders the install knobs and checks each reaches the object it is for.
func TestChartValues(t *testing.T) {
	if testing.Short() {
		t.Skip("needs helm from make test")
	}
	digest := "sha256:" + strings.Repeat("ab", 32)
	t.Run("defaults", func(t *testing.T) {
		d := renderedDeployment(t, "seal-webhook")
		spec := d.Spec.Template.Spec
		if spec.PriorityClassName != "" {
			t.Errorf("priorityClassName %q by default, want none (GKE's quota refuses system-cluster-critical outside kube-system)", spec.PriorityClassName)
		}
		c := spec.Containers[0]
		if !slices.Contains(c.Args, "--port=9443") || c.Ports[0].ContainerPort != 9443 {
			t.Errorf("webhook args %q ports %v, want --port=9443 and containerPort 9443", c.Args, c.Ports)
		}
	})
	t.Run("webhook port 443", func(t *testing.T) {
		manifest, err := render(t, "webhook.port=443")
		if err != nil {
			t.Fatal(err)
		}
		d := deploymentNamed(t, manifest, "seal-webhook")
		c := d.Spec.Template.Spec.Containers[0]
		if !slices.Contains(c.Args, "--port=443") || c.Ports[0].ContainerPort != 443 {
			t.Errorf("webhook args %q ports %v, want --port=443 and containerPort 443", c.Args, c.Ports)
		}
		sc := d.Spec.Template.Spec.SecurityContext
		if sc == nil || len(sc.Sysctls) != 1 || sc.Sysctls[0].Name != "net.ipv4.ip_unprivileged_port_start" {
			t.Errorf("pod securityContext %+v, want the unprivileged-port sysctl for a port below 1024", sc)
		}
		var svc corev1.Service
		for _, o := range objects(t, manifest) {
			if o.GetKind() == "Service" && o.GetName() == "seal-webhook" {
				fromUnstructured(t, o, &svc)
			}
		}
		if len(svc.Spec.Ports) == 0 || svc.Spec.Ports[0].Port != 443 || svc.Spec.Ports[0].TargetPort.IntValue() != 443 {
			t.Errorf("Service seal-webhook ports %+v, want 443 → targetPort 443", svc.Spec.Ports)
		}
	})
	t.Run("scheduling, annotations, digest, extra args, log format", func(t *testing.T) {
		set := []string{
			"image.digest.seal-webhook=" + digest, "image.digest.seal-rot=" + digest,
			"webhook.nodeSelector.pool=system", "webhook.tolerations[0].key=dedicated", "webhook.tolerations[0].operator=Exists",
			"webhook.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key=pool",
			"webhook.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator=Exists",
			"webhook.podAnnotations.team=platform", "webhook.extraArgs={--log-level=debug}", "webhook.priorityClassName=seal-critical",
			"webhook.hostNetwork=true", "webhook.port=10260",
		}
		manifest, err := render(t, set...)
		if err != nil {
			t.Fatal(err)
		}
		d := deploymentNamed(t, manifest, "seal-webhook")
		spec := d.Spec.Template.Spec
		c := spec.Containers[0]
		checks := []struct {
			what string
			ok   bool
		}{
			{"image pinned by digest", c.Image == "ghcr.io/seal-dev/seal-webhook:v0.1.0@"+digest},
			{"init image by tag only", slices.Contains(c.Args, "--init-image=ghcr.io/seal-dev/seal-init:v0.1.0")},
			{"nodeSelector", spec.NodeSelector["pool"] == "system"},
			{"tolerations", len(spec.Tolerations) == 1 && spec.Tolerations[0].Key == "dedicated"},
			{"affinity replaces the default", spec.Affinity != nil && spec.Affinity.NodeAffinity != nil && spec.Affinity.PodAntiAffinity == nil},
			{"podAnnotations", d.Spec.Template.Annotations["team"] == "platform"},
			{"extraArgs", slices.Contains(c.Args, "--log-level=debug")},
			{"priorityClassName", spec.PriorityClassName == "seal-critical"},
			{"hostNetwork", spec.HostNetwork && spec.DNSPolicy == corev1.DNSClusterFirstWithHostNet},
			{"port under hostNetwork", slices.Contains(c.Args, "--port=10260")},
		}
		for _, ck := range checks {
			if !ck.ok {
				t.Errorf("%s: not rendered; webhook pod spec %+v, args %q", ck.what, spec, c.Args)
			}
		}
		rotManifest, err := render(t, "rot.enabled=true", "rot.externalURL=https://rot.example.org", "webhook.enabled=false",
			"image.digest.seal-rot="+digest, "rot.nodeSelector.pool=secure", "logFormat=text", "rot.extraArgs={--log-level=debug}")
		if err != nil {
			t.Fatal(err)
		}
		r := deploymentNamed(t, rotManifest, "seal-rot")
		rc := r.Spec.Template.Spec.Containers[0]
		if rc.Image != "ghcr.io/seal-dev/seal-rot:v0.1.0@"+digest || r.Spec.Template.Spec.NodeSelector["pool"] != "secure" ||
			!slices.Contains(rc.Args, "--log-format=text") || !slices.Contains(rc.Args, "--log-level=debug") {
			t.Errorf("seal-rot image %s nodeSelector %v args %q, want the digest, pool=secure, --log-format=text, --log-level=debug", rc.Image, r.Spec.Template.Spec.NodeSelector, rc.Args)
		}
	})
	refusals := []struct {
		name    string
		set     []string
		wantErr string
	}{
		{"privileged port on the host network", []string{"webhook.hostNetwork=true", "webhook.port=443"}, "cannot bind a port below 1024"},
		{"port clash", []string{"webhook.port=8080"}, "must differ"},
		{"bad digest", []string{"image.digest.seal-webhook=sha256:xyz"}, "digest"},
		{"digest of an unknown image", []string{"image.digest.seal-web=" + digest}, "seal-web"},
		{"extra arg that is no flag", []string{"webhook.extraArgs={debug}"}, "extraArgs"},
		{"bad log format", []string{"logFormat=yaml"}, "logFormat"},
		{"rotURL is gone", []string{"rotURL=https://rot.example.org"}, "rotURL"},
	}
	for _, r := range refusals {
		t.Run(r.name, func(t *testing.T) {
			_, err := render(t, r.set...)
			if err == nil || !strings.Contains(err.Error(), r.wantErr) {
				t.Fatalf("helm template: got error %v, want one containing %q", err, r.wantErr)
			}
		})
	}
	t.Run("Kubernetes older than 1.29", func(t *testing.T) {
		_, err := runHelm(t, "template", "seal", "charts/seal", "--kube-version", "1.28.9", "--set", "trustDomain=prod.example.org")
		if err == nil || !strings.Contains(err.Error(), ">=1.29.0-0") {
			t.Fatalf("helm template on 1.28: got error %v, want the chart's kubeVersion >=1.29.0-0", err)
		}
	})
}

// TestChartValuesApply: the Deployments and Services rendered with every knob set are accepted
// by a real API server (field names and types right, the sysctl allowed).
func TestChartValuesApply(t *testing.T) {
	if testing.Short() {
		t.Skip("needs helm from make test")
	}
	env := testenv.Start(t, testenv.Options{NoCRDs: true, NoControllerManager: true})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	renders := map[string][]string{
		"knobs-webhook": {"webhook.port=443", "image.digest.seal-webhook=sha256:" + strings.Repeat("ab", 32),
			"webhook.nodeSelector.pool=system", "webhook.tolerations[0].operator=Exists", "webhook.podAnnotations.team=platform",
			"webhook.extraArgs={--log-level=debug}", "webhook.affinity.podAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight=1",
			"webhook.affinity.podAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologyKey=zone"},
		"knobs-hostnet": {"webhook.hostNetwork=true", "webhook.port=10260", "webhook.metricsPort=10261"},
		"knobs-rot": {"rot.enabled=true", "rot.externalURL=https://rot.example.org", "webhook.enabled=false",
			"rot.tolerations[0].operator=Exists", "rot.podAnnotations.team=security", "logFormat=text"},
	}
	for ns, set := range renders {
		manifest, err := renderIn(t, ns, set...)
		if err != nil {
			t.Fatalf("%s: %v", ns, err)
		}
		if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
		for _, o := range objects(t, manifest) {
			if k := o.GetKind(); k != "Deployment" && k != "Service" {
				continue
			}
			if err := env.Client.Create(ctx, o); err != nil {
				t.Errorf("%s: the API server refused %s %s: %v", ns, o.GetKind(), o.GetName(), err)
			}
		}
	}
}

func deployments(t *testing.T, manifest string) []appsv1.Deployment {
	t.Helper()
	var ds []appsv1.Deployment
	for _, o := range objects(t, manifest) {
		if o.GetKind() == "Deployment" {
			var d appsv1.Deployment
			fromUnstructured(t, o, &d)
			ds = append(ds, d)
		}
	}
	return ds
}

func deploymentNamed(t *testing.T, manifest, name string) appsv1.Deployment {
	t.Helper()
	for _, d := range deployments(t, manifest) {
		if d.Name == name {
			return d
		}
	}
	t.Fatalf("rendered chart has no Deployment %s", name)
	return appsv1.Deployment{}
}

func renderedDeployment(t *testing.T, name string, set ...string) appsv1.Deployment {
	t.Helper()
	manifest, err := render(t, set...)
	if err != nil {
		t.Fatal(err)
	}
	return deploymentNamed(t, manifest, name)
}

func fromUnstructured(t *testing.T, o *unstructured.Unstructured, into any) {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, into); err != nil {
		t.Fatalf("%s %s: %v", o.GetKind(), o.GetName(), err)
	}
}
