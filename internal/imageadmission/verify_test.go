package imageadmission_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/seal-dev/seal/internal/imageadmission"
	"github.com/seal-dev/seal/internal/verify"
	"github.com/seal-dev/seal/internal/verify/verifytest"
	sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"
)

type fixture struct {
	reg          *verifytest.Registry
	key          *verifytest.Signer
	signed       name.Digest // team/app:v1, signed
	unsigned     name.Digest // team/app:v2
	pin, verifyH admission.Handler
	// credentialReads counts the ServiceAccount and Secret reads the handlers make.
	credentialReads *atomic.Int32
}

func newFixture(t *testing.T, mode sealv1.PolicyMode, objs ...runtime.Object) *fixture {
	t.Helper()
	f := &fixture{reg: verifytest.NewRegistry(t), key: verifytest.NewKey(t), credentialReads: new(atomic.Int32)}
	f.signed = f.reg.Push(t, "team/app", "v1")
	f.key.SignLegacy(t, f.signed)
	f.unsigned = f.reg.Push(t, "team/app", "v2")
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	base := []runtime.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "prod", Labels: map[string]string{sealv1.LabelEnforce: "true"}}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "injected", Labels: map[string]string{sealv1.LabelInject: "enabled"}}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "dev"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kube-system", Labels: map[string]string{sealv1.LabelEnforce: "true"}}},
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithRuntimeObjects(append(base, objs...)...).
		WithInterceptorFuncs(interceptor.Funcs{Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			switch obj.(type) {
			case *corev1.Secret, *corev1.ServiceAccount:
				f.credentialReads.Add(1)
			}
			return c.Get(ctx, key, obj, opts...)
		}}).Build()
	pol := sealv1.ImagePolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "team", UID: "team-uid", Generation: 1},
		Spec: sealv1.ImagePolicySpec{
			Images:      []sealv1.ImagePattern{{Glob: f.reg.Host + "/team/**"}},
			Authorities: []sealv1.Authority{{Name: "release-key", Key: &sealv1.KeyRef{Data: f.key.PublicPEM}}},
			Mode:        mode,
		},
	}
	v, err := verify.New(verify.Options{Policies: &verify.StaticPolicies{Policies: []sealv1.ImagePolicy{pol}}, RegistryTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	f.pin, f.verifyH = imageadmission.New(c, v, imageadmission.Options{SealNamespace: "seal-system", Logger: quiet})
	return f
}

var quiet = slog.New(slog.DiscardHandler)

func tag(d name.Digest, t string) string { return d.Context().Tag(t).String() }

func podJSON(t *testing.T, ns string, spec corev1.PodSpec) []byte {
	t.Helper()
	b, err := json.Marshal(&corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: ns}, Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func request(kind, ns string, op admissionv1.Operation, obj, old []byte) admission.Request {
	group, version := "", "v1"
	switch kind {
	case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet":
		group = "apps"
	case "Job", "CronJob":
		group = "batch"
	}
	return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID: types.UID("req"), Kind: metav1.GroupVersionKind{Group: group, Version: version, Kind: kind},
		Namespace: ns, Operation: op, Object: runtime.RawExtension{Raw: obj}, OldObject: runtime.RawExtension{Raw: old},
	}}
}

func containers(images ...string) []corev1.Container {
	var out []corev1.Container
	for i, im := range images {
		out = append(out, corev1.Container{Name: "c" + string(rune('0'+i)), Image: im})
	}
	return out
}

func patches(r admission.Response) map[string]string {
	out := map[string]string{}
	for _, p := range r.Patches {
		out[p.Operation+" "+p.Path] = p.Value.(string)
	}
	return out
}

func TestVerifyPod(t *testing.T) {
	f := newFixture(t, "")
	ctx := context.Background()
	t.Run("signed", func(t *testing.T) {
		resp := f.verifyH.Handle(ctx, request("Pod", "prod", admissionv1.Create,
			podJSON(t, "prod", corev1.PodSpec{Containers: containers(tag(f.signed, "v1") + "@" + f.signed.DigestStr())}), nil))
		if !resp.Allowed {
			t.Fatalf("signed image denied: %s", resp.Result.Message)
		}
	})
	t.Run("unsigned init container", func(t *testing.T) {
		resp := f.verifyH.Handle(ctx, request("Pod", "injected", admissionv1.Create,
			podJSON(t, "injected", corev1.PodSpec{InitContainers: []corev1.Container{{Name: "setup", Image: f.unsigned.String()}},
				Containers: containers(f.signed.String())}), nil))
		if resp.Allowed {
			t.Fatal("unsigned image admitted")
		}
		for _, want := range []string{`init container "setup"`, f.unsigned.String(), "no signature found"} {
			if !strings.Contains(resp.Result.Message, want) {
				t.Errorf("message %q does not contain %q", resp.Result.Message, want)
			}
		}
	})
	t.Run("not enforced", func(t *testing.T) {
		for _, ns := range []string{"dev", "kube-system"} {
			resp := f.verifyH.Handle(ctx, request("Pod", ns, admissionv1.Create,
				podJSON(t, ns, corev1.PodSpec{Containers: containers(f.unsigned.String())}), nil))
			if !resp.Allowed {
				t.Errorf("namespace %s: denied %s", ns, resp.Result.Message)
			}
		}
	})
	t.Run("update keeping images", func(t *testing.T) {
		obj := podJSON(t, "prod", corev1.PodSpec{Containers: containers(f.unsigned.String())})
		resp := f.verifyH.Handle(ctx, request("Pod", "prod", admissionv1.Update, obj, obj))
		if !resp.Allowed {
			t.Errorf("update that changes no image denied: %s", resp.Result.Message)
		}
	})
	t.Run("ephemeral container added", func(t *testing.T) {
		old := podJSON(t, "prod", corev1.PodSpec{Containers: containers(f.signed.String())})
		obj := podJSON(t, "prod", corev1.PodSpec{Containers: containers(f.signed.String()),
			EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: f.unsigned.String()}}}})
		req := request("Pod", "prod", admissionv1.Update, obj, old)
		req.SubResource = "ephemeralcontainers"
		resp := f.verifyH.Handle(ctx, req)
		if resp.Allowed || !strings.Contains(resp.Result.Message, `ephemeral container "debug"`) {
			t.Errorf("unsigned ephemeral container: allowed %v %v", resp.Allowed, resp.Result)
		}
	})
	t.Run("one verification per distinct image", func(t *testing.T) {
		g := newFixture(t, "")
		g.reg.Reset()
		resp := g.verifyH.Handle(ctx, request("Pod", "prod", admissionv1.Create,
			podJSON(t, "prod", corev1.PodSpec{Containers: containers(g.signed.String(), g.signed.String(), g.signed.String())}), nil))
		if !resp.Allowed {
			t.Fatal(resp.Result.Message)
		}
		if n := g.reg.SignatureReads(); n != 2 {
			t.Errorf("3 containers of one image made %d signature reads, want 2 (one verification)", n)
		}
	})
}

func TestVerifyWarnMode(t *testing.T) {
	f := newFixture(t, sealv1.ModeWarn)
	resp := f.verifyH.Handle(context.Background(), request("Pod", "prod", admissionv1.Create,
		podJSON(t, "prod", corev1.PodSpec{Containers: containers(f.unsigned.String())}), nil))
	if !resp.Allowed || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "no signature found") {
		t.Fatalf("warn mode: allowed %v warnings %v, want allowed with a warning", resp.Allowed, resp.Warnings)
	}
}

func TestWorkloadKinds(t *testing.T) {
	f := newFixture(t, "")
	tmpl := func(image string) corev1.PodTemplateSpec {
		return corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}}}
	}
	objects := map[string]func(image string) any{
		"Deployment":  func(im string) any { return &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Template: tmpl(im)}} },
		"StatefulSet": func(im string) any { return &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{Template: tmpl(im)}} },
		"DaemonSet":   func(im string) any { return &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{Template: tmpl(im)}} },
		"ReplicaSet":  func(im string) any { return &appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{Template: tmpl(im)}} },
		"Job":         func(im string) any { return &batchv1.Job{Spec: batchv1.JobSpec{Template: tmpl(im)}} },
		"CronJob": func(im string) any {
			return &batchv1.CronJob{Spec: batchv1.CronJobSpec{JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: tmpl(im)}}}}
		},
	}
	paths := map[string]string{"CronJob": "/spec/jobTemplate/spec/template/spec/containers/0/image"}
	for kind, mk := range objects {
		t.Run(kind, func(t *testing.T) {
			raw := func(im string) []byte { b, _ := json.Marshal(mk(im)); return b }
			resp := f.pin.Handle(context.Background(), request(kind, "prod", admissionv1.Create, raw(tag(f.signed, "v1")), nil))
			path := paths[kind]
			if path == "" {
				path = "/spec/template/spec/containers/0/image"
			}
			if got := patches(resp)["replace "+path]; got != tag(f.signed, "v1")+"@"+f.signed.DigestStr() {
				t.Errorf("pin patch at %s = %q (all %v)", path, got, patches(resp))
			}
			if r := f.verifyH.Handle(context.Background(), request(kind, "prod", admissionv1.Create, raw(f.signed.String()), nil)); !r.Allowed {
				t.Errorf("signed %s denied: %s", kind, r.Result.Message)
			}
			r := f.verifyH.Handle(context.Background(), request(kind, "prod", admissionv1.Create, raw(tag(f.unsigned, "v2")), nil))
			if r.Allowed || !strings.Contains(r.Result.Message, `container "app"`) {
				t.Errorf("unsigned %s: allowed %v %v", kind, r.Allowed, r.Result)
			}
		})
	}
}

func TestMalformedRequests(t *testing.T) {
	f := newFixture(t, "")
	for _, tt := range []struct {
		name string
		req  admission.Request
		want bool
	}{
		{"garbage object", request("Pod", "prod", admissionv1.Create, []byte("{not json"), nil), false},
		{"bad image reference", request("Pod", "prod", admissionv1.Create, podJSON(t, "prod", corev1.PodSpec{Containers: containers("UPPER::case")}), nil), false},
		{"unknown kind", request("ConfigMap", "prod", admissionv1.Create, []byte(`{"data":{}}`), nil), true},
		{"delete", request("Pod", "prod", admissionv1.Delete, nil, nil), true},
		{"missing namespace", request("Pod", "nope", admissionv1.Create, podJSON(t, "nope", corev1.PodSpec{Containers: containers("nginx")}), nil), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_ = f.pin.Handle(context.Background(), tt.req) // must not panic
			if resp := f.verifyH.Handle(context.Background(), tt.req); resp.Allowed != tt.want {
				t.Errorf("verify allowed = %v (%v), want %v", resp.Allowed, resp.Result, tt.want)
			}
		})
	}
}

func TestDenialEvents(t *testing.T) {
	f := newFixture(t, "")
	rec := record.NewFakeRecorder(10)
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	c := fake.NewClientBuilder().WithScheme(scheme).WithRuntimeObjects(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "prod", Labels: map[string]string{sealv1.LabelEnforce: "true"}}}).Build()
	v, err := verify.New(verify.Options{Policies: &verify.StaticPolicies{}})
	if err != nil {
		t.Fatal(err)
	}
	_, vh := imageadmission.New(c, v, imageadmission.Options{Events: rec, Logger: quiet})
	isController := true
	pod := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{GenerateName: "app-", Namespace: "prod", OwnerReferences: []metav1.OwnerReference{{
			APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "app-5d4f", UID: "rs-uid", Controller: &isController}}},
		Spec: corev1.PodSpec{Containers: containers(f.unsigned.String())}}
	raw, _ := json.Marshal(pod)
	if resp := vh.Handle(context.Background(), request("Pod", "prod", admissionv1.Create, raw, nil)); resp.Allowed {
		t.Fatal("pod with no matching policy admitted")
	}
	select {
	case e := <-rec.Events:
		if !strings.HasPrefix(e, "Warning SealImageDenied") || !strings.Contains(e, "no ImagePolicy matches") {
			t.Errorf("event = %q", e)
		}
	default:
		t.Fatal("no Event recorded for the denied pod's ReplicaSet")
	}
}

func TestHangingRegistry(t *testing.T) {
	release := make(chan struct{})
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hanging.Close)
	t.Cleanup(func() { close(release) })
	host := strings.TrimPrefix(hanging.URL, "http://")

	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	c := fake.NewClientBuilder().WithScheme(scheme).WithRuntimeObjects(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "prod", Labels: map[string]string{sealv1.LabelEnforce: "true"}}}).Build()
	key := verifytest.NewKey(t)
	pol := sealv1.ImagePolicy{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: sealv1.ImagePolicySpec{
		Images:      []sealv1.ImagePattern{{Glob: host + "/**"}},
		Authorities: []sealv1.Authority{{Name: "k", Key: &sealv1.KeyRef{Data: key.PublicPEM}}},
	}}
	v, err := verify.New(verify.Options{Policies: &verify.StaticPolicies{Policies: []sealv1.ImagePolicy{pol}}, RegistryTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	pin, vh := imageadmission.New(c, v, imageadmission.Options{Logger: quiet})
	obj := podJSON(t, "prod", corev1.PodSpec{Containers: containers(host+"/a:1", host+"/b:1", host+"/c@sha256:"+strings.Repeat("ab", 32))})

	resp := pin.Handle(context.Background(), request("Pod", "prod", admissionv1.Create, obj, nil))
	if resp.Allowed || len(resp.Patches) != 0 || !strings.Contains(resp.Result.Message, `container "c0"`) || !strings.Contains(resp.Result.Message, `container "c1"`) {
		t.Fatalf("pin: allowed %v patches %v (%v), want a denial of both tags an enforcing policy covers", resp.Allowed, resp.Patches, resp.Result)
	}
	resp = vh.Handle(context.Background(), request("Pod", "prod", admissionv1.Create, obj, nil))
	if resp.Allowed || !strings.Contains(resp.Result.Message, "timed out") || !strings.Contains(resp.Result.Message, `container "c2"`) {
		t.Fatalf("verify: allowed %v (%v), want a denial naming the timeout and each container", resp.Allowed, resp.Result)
	}
}

// A verify review whose images are all in the verification cache (a ReplicaSet creating pods
// of a verified template) reads no ServiceAccount or pull Secret: credentials are read only
// when a registry call needs them.
func TestCachedVerifyReadsNoCredentials(t *testing.T) {
	f := newFixture(t, sealv1.ModeEnforce)
	review := func() admission.Response {
		return f.verifyH.Handle(context.Background(), request("Pod", "prod", admissionv1.Create,
			podJSON(t, "prod", corev1.PodSpec{Containers: containers(f.signed.String())}), nil))
	}
	if r := review(); !r.Allowed {
		t.Fatalf("first review of the signed image: %v", r.Result)
	}
	if n := f.credentialReads.Load(); n == 0 {
		t.Fatal("the first review (a registry call) read no credentials: the counter does not work")
	}
	f.credentialReads.Store(0)
	if r := review(); !r.Allowed {
		t.Fatalf("second review: %v", r.Result)
	}
	if n := f.credentialReads.Load(); n != 0 {
		t.Errorf("a review answered from the cache read %d ServiceAccounts/Secrets, want 0", n)
	}
}
