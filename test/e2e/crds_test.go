package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"

	"github.com/seal-dev/seal/internal/testing/testenv"
)

// crdFiles are the CRDs make generate writes and the chart's crds.yaml template installs.
func crdFiles(t *testing.T) map[string]*apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "charts", "seal", "files", "crds", "*.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no CRDs in charts/seal/files/crds (run make generate): %v", err)
	}
	crds := map[string]*apiextensionsv1.CustomResourceDefinition{}
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.UnmarshalStrict(raw, crd); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		crds[crd.Name] = crd
	}
	return crds
}

// undescribed lists the properties of s (at path) that have no description: what `kubectl
// explain` would answer with nothing. The root's metadata is ObjectMeta, which the API server
// documents itself.
func undescribed(s *apiextensionsv1.JSONSchemaProps, path string) []string {
	var out []string
	for name, p := range s.Properties {
		p := p
		sub := path + "." + name
		if p.Description == "" && !(path == "" && name == "metadata") {
			out = append(out, sub)
		}
		out = append(out, undescribed(&p, sub)...)
	}
	if s.Items != nil && s.Items.Schema != nil {
		out = append(out, undescribed(s.Items.Schema, path+"[]")...)
	}
	return out
}

// TestCRDSchemasDescribed: every property of every Seal CRD has a description, every CRD is in
// the seal category and has a Message column shown with -o wide.
func TestCRDSchemasDescribed(t *testing.T) {
	for name, crd := range crdFiles(t) {
		t.Run(name, func(t *testing.T) {
			if !slices.Contains(crd.Spec.Names.Categories, "seal") {
				t.Errorf("categories %v, want seal (kubectl get seal)", crd.Spec.Names.Categories)
			}
			for _, v := range crd.Spec.Versions {
				if missing := undescribed(v.Schema.OpenAPIV3Schema, ""); len(missing) > 0 {
					slices.Sort(missing)
					t.Errorf("%s: properties without a description (add a comment to the Go field): %s", v.Name, strings.Join(missing, ", "))
				}
				var msg *apiextensionsv1.CustomResourceColumnDefinition
				for i, c := range v.AdditionalPrinterColumns {
					if c.Name == "Message" {
						msg = &v.AdditionalPrinterColumns[i]
					}
				}
				if msg == nil || msg.Priority != 1 {
					t.Errorf("%s: Message printer column %+v, want one at priority 1", v.Name, msg)
				}
			}
		})
	}
}

// TestUndescribedFails: the check above finds an undescribed property.
func TestUndescribedFails(t *testing.T) {
	s := &apiextensionsv1.JSONSchemaProps{Properties: map[string]apiextensionsv1.JSONSchemaProps{
		"spec": {Description: "d", Properties: map[string]apiextensionsv1.JSONSchemaProps{"x": {Type: "string"}}},
	}}
	if got := undescribed(s, ""); !slices.Equal(got, []string{".spec.x"}) {
		t.Errorf("undescribed = %v, want [.spec.x]", got)
	}
}

// TestCRDsOnCluster installs the chart with helm into a real API server (CRDs from templates),
// then checks what users see: the seal category served by discovery, kubectl explain's
// descriptions in the served OpenAPI, the issuer/subject CEL rules, a CRD change applied by
// helm upgrade, and the CRDs kept by helm uninstall.
func TestCRDsOnCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("needs helm from make test")
	}
	helm(t)
	env := testenv.Start(t, testenv.Options{NoCRDs: true, NoControllerManager: true})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	helmArgs := func(args ...string) []string {
		return append(args, "--kubeconfig", env.Kubeconfig, "-n", "seal-system", "--set", "trustDomain=prod.example.org", "--wait=false")
	}
	if out, err := runHelm(t, helmArgs("install", "seal", "charts/seal", "--create-namespace")...); err != nil {
		t.Fatalf("helm install: %v\n%s", err, out)
	}
	crds := crdFiles(t)
	scheme := runtime.NewScheme()
	if err := apiextensionsv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	crdClient, err := client.New(env.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	for name := range crds {
		waitEstablished(ctx, t, crdClient, name)
	}

	t.Run("kubectl get seal: the category is served", func(t *testing.T) {
		dc, err := discovery.NewDiscoveryClientForConfig(env.Config)
		if err != nil {
			t.Fatal(err)
		}
		list, err := dc.ServerResourcesForGroupVersion("seal.dev/v1alpha1")
		if err != nil {
			t.Fatal(err)
		}
		var inSeal []string
		for _, r := range list.APIResources {
			if slices.Contains(r.Categories, "seal") {
				inSeal = append(inSeal, r.Name)
			}
		}
		slices.Sort(inSeal)
		want := []string{"approvedimages", "attestationkeys", "attestationpolicies", "federatedtrustdomains", "imagepolicies", "workloadclusters", "workloads"}
		if !slices.Equal(inSeal, want) {
			t.Errorf("discovery serves category seal for %v, want %v", inSeal, want)
		}
	})

	t.Run("kubectl explain: descriptions served", func(t *testing.T) {
		// kubectl explain reads the API server's OpenAPI v3 document of the group.
		dc, err := discovery.NewDiscoveryClientForConfig(env.Config)
		if err != nil {
			t.Fatal(err)
		}
		// The API server publishes a new CRD's schema shortly after it is established.
		var body []byte
		for {
			body, err = dc.RESTClient().Get().AbsPath("/openapi/v3/apis/seal.dev/v1alpha1").DoRaw(ctx)
			if err == nil {
				break
			}
			select {
			case <-ctx.Done():
				index, _ := dc.RESTClient().Get().AbsPath("/openapi/v3").DoRaw(context.Background())
				t.Fatalf("GET /openapi/v3/apis/seal.dev/v1alpha1: %v; /openapi/v3 lists %s", err, index)
			case <-time.After(200 * time.Millisecond):
			}
		}
		var doc struct {
			Components struct {
				Schemas map[string]json.RawMessage `json:"schemas"`
			} `json:"components"`
		}
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatal(err)
		}
		for _, want := range []struct{ schema, text string }{
			{"dev.seal.v1alpha1.ImagePolicy", "Authorities approve a matching image"},
			{"dev.seal.v1alpha1.ImagePolicy", "Issuer is the exact OIDC issuer URL"},
			{"dev.seal.v1alpha1.Workload", "Peers are the roles inside the workload"},
			{"dev.seal.v1alpha1.FederatedTrustDomain", "TrustDomain is the foreign SPIFFE trust domain"},
			{"dev.seal.v1alpha1.WorkloadCluster", "Issuer is the cluster's ServiceAccount token issuer"},
		} {
			if s := doc.Components.Schemas[want.schema]; !strings.Contains(string(s), want.text) {
				t.Errorf("served OpenAPI schema %s lacks %q", want.schema, want.text)
			}
		}
	})

	t.Run("issuer xor issuerRegExp, subject xor subjectRegExp", func(t *testing.T) {
		cases := []struct {
			name    string
			id      sealv1.Identity
			wantErr string
		}{
			{"exact", sealv1.Identity{Issuer: "https://issuer.test", Subject: "ci@example.org"}, ""},
			{"regexps", sealv1.Identity{IssuerRegExp: "https://.*", SubjectRegExp: ".*@example.org"}, ""},
			{"both issuers", sealv1.Identity{Issuer: "https://issuer.test", IssuerRegExp: "https://.*", Subject: "s"}, "exactly one of issuer or issuerRegExp"},
			{"no issuer", sealv1.Identity{Subject: "s"}, "exactly one of issuer or issuerRegExp"},
			{"both subjects", sealv1.Identity{Issuer: "https://issuer.test", Subject: "s", SubjectRegExp: "s.*"}, "exactly one of subject or subjectRegExp"},
			{"no subject", sealv1.Identity{Issuer: "https://issuer.test"}, "exactly one of subject or subjectRegExp"},
		}
		for i, c := range cases {
			p := &sealv1.ImagePolicy{
				ObjectMeta: metav1.ObjectMeta{Name: "cel-" + strings.ReplaceAll(c.name, " ", "-")},
				Spec: sealv1.ImagePolicySpec{
					Images: []sealv1.ImagePattern{{Glob: "registry.example.com/**"}},
					Authorities: []sealv1.Authority{{Name: "ci", Keyless: &sealv1.Keyless{
						Identities: []sealv1.Identity{c.id}, TrustedRoot: &sealv1.TrustedRoot{CertificateAuthorities: "pem"}}}},
				},
			}
			err := env.Client.Create(ctx, p)
			switch {
			case c.wantErr == "" && err != nil:
				t.Errorf("%d %s: the API server refused %+v: %v", i, c.name, c.id, err)
			case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
				t.Errorf("%d %s: got %v, want an error containing %q", i, c.name, err, c.wantErr)
			}
		}
	})

	t.Run("ApprovedImage status", func(t *testing.T) {
		ai := &sealv1.ApprovedImage{ObjectMeta: metav1.ObjectMeta{Name: "app"},
			Spec: sealv1.ApprovedImageSpec{Image: "registry.example.com/app@sha256:" + strings.Repeat("a", 64)}}
		if err := env.Client.Create(ctx, ai); err != nil {
			t.Fatal(err)
		}
		ai.Status = sealv1.ApprovedImageStatus{ObservedGeneration: ai.Generation, Conditions: []metav1.Condition{{
			Type: "Ready", Status: metav1.ConditionTrue, Reason: "Approved", Message: "in use", LastTransitionTime: metav1.Now()}}}
		if err := env.Client.Status().Update(ctx, ai); err != nil {
			t.Fatalf("status update: %v", err)
		}
		var got sealv1.ApprovedImage
		if err := env.Client.Get(ctx, client.ObjectKey{Name: "app"}, &got); err != nil {
			t.Fatal(err)
		}
		if len(got.Status.Conditions) != 1 || got.Status.ObservedGeneration != ai.Generation {
			t.Errorf("ApprovedImage status %+v, want the Ready condition and observedGeneration kept", got.Status)
		}
	})

	t.Run("helm upgrade changes a CRD", func(t *testing.T) {
		chart := copyChart(t)
		crdPath := filepath.Join(chart, "files", "crds", "seal.dev_workloads.yaml")
		raw, err := os.ReadFile(crdPath)
		if err != nil {
			t.Fatal(err)
		}
		const col = "    - jsonPath: .status.caFingerprint\n      name: CA\n      type: string\n"
		changed := strings.Replace(string(raw), "  - additionalPrinterColumns:\n", "  - additionalPrinterColumns:\n"+col, 1)
		if changed == string(raw) {
			t.Fatal("could not add a printer column to the copied Workload CRD")
		}
		if err := os.WriteFile(crdPath, []byte(changed), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := runHelm(t, helmArgs("upgrade", "seal", chart)...); err != nil {
			t.Fatalf("helm upgrade: %v\n%s", err, out)
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := crdClient.Get(ctx, client.ObjectKey{Name: "workloads.seal.dev"}, &crd); err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, c := range crd.Spec.Versions[0].AdditionalPrinterColumns {
			names = append(names, c.Name)
		}
		if !slices.Contains(names, "CA") {
			t.Errorf("after helm upgrade the Workload CRD's columns are %v, want the new CA column", names)
		}
	})

	t.Run("a second release leaves the CRDs alone", func(t *testing.T) {
		_, err := runHelm(t, "install", "other", "charts/seal", "--kubeconfig", env.Kubeconfig, "-n", "other", "--create-namespace",
			"--set", "trustDomain=prod.example.org")
		if want := "belongs to release seal in namespace seal-system"; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("second install with crds.enabled: got %v, want an error containing %q", err, want)
		}
	})

	t.Run("helm uninstall keeps the CRDs", func(t *testing.T) {
		if out, err := runHelm(t, "uninstall", "seal", "--kubeconfig", env.Kubeconfig, "-n", "seal-system"); err != nil {
			t.Fatalf("helm uninstall: %v\n%s", err, out)
		}
		for name := range crds {
			var crd apiextensionsv1.CustomResourceDefinition
			if err := crdClient.Get(ctx, client.ObjectKey{Name: name}, &crd); err != nil || crd.DeletionTimestamp != nil {
				t.Errorf("CRD %s after helm uninstall: %v (deleting: %v), want it kept", name, err, crd.DeletionTimestamp != nil)
			}
		}
		var ai sealv1.ApprovedImage
		if err := env.Client.Get(ctx, client.ObjectKey{Name: "app"}, &ai); err != nil {
			t.Errorf("ApprovedImage app after helm uninstall: %v, want it kept", err)
		}
	})
}

func waitEstablished(ctx context.Context, t *testing.T, c client.Client, name string) {
	t.Helper()
	for {
		var crd apiextensionsv1.CustomResourceDefinition
		err := c.Get(ctx, client.ObjectKey{Name: name}, &crd)
		if err == nil {
			for _, cond := range crd.Status.Conditions {
				if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
					return
				}
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("CRD %s not established: %v (last get: %v)", name, ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// copyChart copies charts/seal into a temporary directory.
func copyChart(t *testing.T) string {
	t.Helper()
	src := filepath.Join(testenv.RepoRoot(), "charts", "seal")
	dst := filepath.Join(t.TempDir(), "seal")
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatalf("copying the chart: %v", err)
	}
	return dst
}
