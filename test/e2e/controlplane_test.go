package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seal-dev/seal/internal/testing/testenv"
	sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"
)

// TestControlPlane proves the test ground itself: the real controllers turn a Deployment into
// pods, every Seal CRD is served and accepts its documented sample, and CEL validation runs.
func TestControlPlane(t *testing.T) {
	env := testenv.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	t.Run("deployment becomes pods", func(t *testing.T) {
		ns := env.Namespace(t, nil)
		dep := deployment(ns, "web", 2)
		if err := env.Client.Create(ctx, dep); err != nil {
			t.Fatalf("creating deployment: %v", err)
		}
		testenv.Eventually(t, time.Minute, func() error {
			var pods corev1.PodList
			if err := env.Client.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{"app": "web"}); err != nil {
				return err
			}
			if got := len(pods.Items); got != 2 {
				return fmt.Errorf("got %d pods of the deployment, want 2", got)
			}
			for _, p := range pods.Items {
				if len(p.OwnerReferences) == 0 || p.OwnerReferences[0].Kind != "ReplicaSet" {
					return fmt.Errorf("pod %s is not owned by a ReplicaSet: %v", p.Name, p.OwnerReferences)
				}
			}
			return nil
		})
	})

	t.Run("every CRD accepts its sample", func(t *testing.T) {
		codecs := serializer.NewCodecFactory(env.Scheme)
		files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "manifests", "samples", "*.yaml"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no samples in manifests/samples: %v", err)
		}
		kinds := map[string]bool{}
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			obj, gvk, err := codecs.UniversalDeserializer().Decode(raw, nil, nil)
			if err != nil {
				t.Fatalf("%s: %v", filepath.Base(f), err)
			}
			if err := env.Client.Create(ctx, obj.(client.Object)); err != nil {
				t.Errorf("%s: the API server refused the sample %s: %v", filepath.Base(f), gvk.Kind, err)
			}
			kinds[gvk.Kind] = true
		}
		for _, k := range []string{"Workload", "ImagePolicy", "ApprovedImage", "FederatedTrustDomain"} {
			if !kinds[k] {
				t.Errorf("manifests/samples has no %s", k)
			}
		}
	})

	t.Run("CEL validation", func(t *testing.T) {
		tests := []struct {
			name    string
			obj     client.Object
			wantErr string
		}{
			{
				name:    "approved image without digest",
				obj:     &sealv1.ApprovedImage{ObjectMeta: metav1.ObjectMeta{Name: "tag-only"}, Spec: sealv1.ApprovedImageSpec{Image: "registry.example.com/app:v1"}},
				wantErr: "image must carry a @sha256: digest",
			},
			{
				name: "authority with both key and keyless",
				obj: &sealv1.ImagePolicy{ObjectMeta: metav1.ObjectMeta{Name: "both"}, Spec: sealv1.ImagePolicySpec{
					Images: []sealv1.ImagePattern{{Glob: "**"}},
					Authorities: []sealv1.Authority{{Name: "a", Key: &sealv1.KeyRef{Data: "x"},
						Keyless: &sealv1.Keyless{Identities: []sealv1.Identity{{Issuer: "i", Subject: "s"}}}}},
				}},
				wantErr: "exactly one of key or keyless must be set",
			},
			{
				name: "https_spiffe without endpoint ID",
				obj: &sealv1.FederatedTrustDomain{ObjectMeta: metav1.ObjectMeta{Name: "noid"}, Spec: sealv1.FederatedTrustDomainSpec{
					TrustDomain: "other.example.org", BundleEndpointURL: "https://rot.other.example.org/v1/bundle",
					BundleEndpointProfile: &sealv1.BundleEndpointProfile{Type: "https_spiffe"},
				}},
				wantErr: "endpointSPIFFEID is required",
			},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := env.Client.Create(ctx, tt.obj)
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("create: got error %v, want one containing %q", err, tt.wantErr)
				}
			})
		}
		ok := &sealv1.ApprovedImage{ObjectMeta: metav1.ObjectMeta{Name: "with-digest"},
			Spec: sealv1.ApprovedImageSpec{Image: "registry.example.com/app@sha256:" + strings.Repeat("ab", 32)}}
		if err := env.Client.Create(ctx, ok); err != nil {
			t.Fatalf("an ApprovedImage with a digest was refused: %v", err)
		}
	})
}

func deployment(ns, name string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example.com/app:v1"}}},
			},
		},
	}
}
