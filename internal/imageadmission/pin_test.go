package imageadmission_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/seal-dev/seal/internal/imageadmission"
	"github.com/seal-dev/seal/internal/verify"
	sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"
)

func TestPinPod(t *testing.T) {
	f := newFixture(t, "")
	spec := corev1.PodSpec{
		InitContainers: containers(tag(f.signed, "v1")),
		Containers:     containers(tag(f.unsigned, "v2"), f.signed.String(), tag(f.signed, "v1")),
		EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
			Name: "debug", Image: tag(f.unsigned, "v2")}}},
	}
	resp := f.pin.Handle(context.Background(), request("Pod", "prod", admissionv1.Create, podJSON(t, "prod", spec), nil))
	if !resp.Allowed {
		t.Fatalf("pin denied: %v", resp.Result)
	}
	want := map[string]string{
		"replace /spec/initContainers/0/image":      tag(f.signed, "v1") + "@" + f.signed.DigestStr(),
		"replace /spec/containers/0/image":          tag(f.unsigned, "v2") + "@" + f.unsigned.DigestStr(),
		"replace /spec/containers/2/image":          tag(f.signed, "v1") + "@" + f.signed.DigestStr(),
		"replace /spec/ephemeralContainers/0/image": tag(f.unsigned, "v2") + "@" + f.unsigned.DigestStr(),
	}
	got := patches(resp)
	if len(got) != len(want) {
		t.Fatalf("patches = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("patch %s = %q, want %q", k, got[k], v)
		}
	}
	if _, pinned, err := verify.PinnedDigest(got["replace /spec/containers/0/image"]); err != nil || !pinned {
		t.Errorf("pinned image does not parse as a digest reference: %v", err)
	}
}

func TestPinUpdateOnlyNewImages(t *testing.T) {
	f := newFixture(t, "")
	old := podJSON(t, "prod", corev1.PodSpec{Containers: containers(tag(f.signed, "v1"))})
	obj := podJSON(t, "prod", corev1.PodSpec{Containers: containers(tag(f.signed, "v1"), tag(f.unsigned, "v2"))})
	resp := f.pin.Handle(context.Background(), request("Pod", "prod", admissionv1.Update, obj, old))
	want := map[string]string{"replace /spec/containers/1/image": tag(f.unsigned, "v2") + "@" + f.unsigned.DigestStr()}
	if got := patches(resp); len(got) != 1 || got["replace /spec/containers/1/image"] != want["replace /spec/containers/1/image"] {
		t.Fatalf("update patches = %v, want only the new image pinned: %v", got, want)
	}
}

func TestPinScope(t *testing.T) {
	f := newFixture(t, "")
	for _, ns := range []string{"dev", "kube-system", "seal-system"} {
		resp := f.pin.Handle(context.Background(), request("Pod", ns, admissionv1.Create,
			podJSON(t, ns, corev1.PodSpec{Containers: containers(tag(f.signed, "v1"))}), nil))
		if !resp.Allowed || len(resp.Patches) != 0 {
			t.Errorf("namespace %s: allowed %v patches %v, want allowed without patches", ns, resp.Allowed, resp.Patches)
		}
	}
	missing := podJSON(t, "prod", corev1.PodSpec{Containers: containers(f.reg.Host + "/team/missing:v9")})
	resp := f.pin.Handle(context.Background(), request("Pod", "prod", admissionv1.Create, missing, nil))
	if resp.Allowed || !strings.Contains(resp.Result.Message, "cannot be pinned") || !strings.Contains(resp.Result.Message, "ImagePolicy team enforces") {
		t.Errorf("unresolvable tag under an enforcing policy: allowed %v (%v), want a denial naming the policy", resp.Allowed, resp.Result)
	}
	w := newFixture(t, sealv1.ModeWarn)
	resp = w.pin.Handle(context.Background(), request("Pod", "prod", admissionv1.Create,
		podJSON(t, "prod", corev1.PodSpec{Containers: containers(w.reg.Host + "/team/missing:v9")}), nil))
	if !resp.Allowed || len(resp.Patches) != 0 || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "not pinned") {
		t.Errorf("unresolvable tag under a warn policy: allowed %v patches %v warnings %v, want allowed with one warning", resp.Allowed, resp.Patches, resp.Warnings)
	}
}

// A tag the pin handler cannot resolve is never admitted where a policy enforces, even when
// the registry answers the verify handler a moment later (issue 13 item 1): the registry's
// first HEAD of the tag fails with a 5xx.
func TestUnpinnedTagNeverAdmitted(t *testing.T) {
	for _, mode := range []sealv1.PolicyMode{sealv1.ModeEnforce, sealv1.ModeWarn} {
		t.Run(string(mode), func(t *testing.T) {
			f := newFixture(t, mode)
			f.reg.FailFirstHEAD("team/app", "v1", http.StatusNotImplemented)
			image := tag(f.signed, "v1")
			obj := podJSON(t, "prod", corev1.PodSpec{Containers: containers(image)})
			pin := f.pin.Handle(context.Background(), request("Pod", "prod", admissionv1.Create, obj, nil))
			if len(pin.Patches) != 0 {
				t.Fatalf("pin patched %v though the registry failed", pin.Patches)
			}
			// What the API server would send verify had pin admitted the object unchanged.
			ver := f.verifyH.Handle(context.Background(), request("Pod", "prod", admissionv1.Create, obj, nil))
			if f.reg.Count("HEAD", "/manifests/v1") == 0 {
				t.Fatal("the registry saw no HEAD of the tag")
			}
			if mode == sealv1.ModeEnforce {
				if pin.Allowed || !strings.Contains(pin.Result.Message, image) || !strings.Contains(pin.Result.Message, "cannot be pinned") {
					t.Errorf("pin: allowed %v (%v), want a denial naming %s", pin.Allowed, pin.Result, image)
				}
				if ver.Allowed || !strings.Contains(ver.Result.Message, image+" must be an image digest") {
					t.Errorf("verify: allowed %v (%v), want %s denied as not a digest", ver.Allowed, ver.Result, image)
				}
				// The registry answers again: pin pins, verify admits the digest.
				pin = f.pin.Handle(context.Background(), request("Pod", "prod", admissionv1.Create, obj, nil))
				pinned := patches(pin)["replace /spec/containers/0/image"]
				if !pin.Allowed || pinned != image+"@"+f.signed.DigestStr() {
					t.Fatalf("pin after recovery: allowed %v patches %v", pin.Allowed, pin.Patches)
				}
				if r := f.verifyH.Handle(context.Background(), request("Pod", "prod", admissionv1.Create,
					podJSON(t, "prod", corev1.PodSpec{Containers: containers(pinned)}), nil)); !r.Allowed {
					t.Errorf("verify of the pinned image: %v", r.Result)
				}
				return
			}
			if !pin.Allowed || len(pin.Warnings) != 1 || !strings.Contains(pin.Warnings[0], "not pinned") {
				t.Errorf("warn mode pin: allowed %v warnings %v, want allowed with a warning", pin.Allowed, pin.Warnings)
			}
			if !ver.Allowed || len(ver.Warnings) != 1 || !strings.Contains(ver.Warnings[0], "must be an image digest") {
				t.Errorf("warn mode verify: allowed %v warnings %v, want allowed with a warning", ver.Allowed, ver.Warnings)
			}
		})
	}
}

func TestPinWithPullSecrets(t *testing.T) {
	f := newFixture(t, "")
	auth := base64.StdEncoding.EncodeToString([]byte("puller:s3cret"))
	dockercfg, _ := json.Marshal(map[string]any{"auths": map[string]any{f.reg.Host: map[string]string{"auth": auth}}})
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "pull", Namespace: "prod"}, Type: corev1.SecretTypeDockerConfigJson,
		Data: map[string][]byte{corev1.DockerConfigJsonKey: dockercfg}}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "builder", Namespace: "prod"},
		ImagePullSecrets: []corev1.LocalObjectReference{{Name: "pull"}}}
	f2 := newFixtureWith(t, f, secret, sa)
	f.reg.RequireAuth("puller", "s3cret")

	for _, tt := range []struct {
		name   string
		spec   corev1.PodSpec
		pinned bool
	}{
		{"pod pull secret", corev1.PodSpec{ImagePullSecrets: []corev1.LocalObjectReference{{Name: "pull"}}, Containers: containers(tag(f.signed, "v1"))}, true},
		{"service account pull secret", corev1.PodSpec{ServiceAccountName: "builder", Containers: containers(tag(f.signed, "v1"))}, true},
		{"no credentials", corev1.PodSpec{Containers: containers(tag(f.signed, "v1"))}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp := f2.pin.Handle(context.Background(), request("Pod", "prod", admissionv1.Create, podJSON(t, "prod", tt.spec), nil))
			if got := len(resp.Patches) == 1; got != tt.pinned {
				t.Fatalf("pinned = %v (patches %v, warnings %v), want %v", got, resp.Patches, resp.Warnings, tt.pinned)
			}
			// Verify sees what pin admitted: the pinned image, or (denied by pin) the tag.
			if img, ok := patches(resp)["replace /spec/containers/0/image"]; ok {
				tt.spec.Containers[0].Image = img
			}
			vr := f2.verifyH.Handle(context.Background(), request("Pod", "prod", admissionv1.Create, podJSON(t, "prod", tt.spec), nil))
			if vr.Allowed != tt.pinned {
				t.Fatalf("verify allowed = %v (%v), want %v", vr.Allowed, vr.Result, tt.pinned)
			}
		})
	}
}

// newFixtureWith reuses f's registry and key with more cluster objects.
func newFixtureWith(t *testing.T, f *fixture, objs ...runtime.Object) *fixture {
	t.Helper()
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	c := fake.NewClientBuilder().WithScheme(scheme).WithRuntimeObjects(append([]runtime.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "prod", Labels: map[string]string{sealv1.LabelEnforce: "true"}}},
	}, objs...)...).Build()
	pol := sealv1.ImagePolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "team", UID: "team-uid", Generation: 1},
		Spec: sealv1.ImagePolicySpec{
			Images:      []sealv1.ImagePattern{{Glob: f.reg.Host + "/team/**"}},
			Authorities: []sealv1.Authority{{Name: "release-key", Key: &sealv1.KeyRef{Data: f.key.PublicPEM}}},
		},
	}
	v, err := verify.New(verify.Options{Policies: &verify.StaticPolicies{Policies: []sealv1.ImagePolicy{pol}}, CacheTTL: -1})
	if err != nil {
		t.Fatal(err)
	}
	g := *f
	g.pin, g.verifyH = imageadmission.New(c, v, imageadmission.Options{Logger: quiet})
	return &g
}
