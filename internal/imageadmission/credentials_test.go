package imageadmission_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/seal-dev/seal/internal/imageadmission"
	"github.com/seal-dev/seal/internal/verify"
)

// Concurrent verifications of one image are shared only among requests with the same
// credentials: a pod in a namespace without the pull secret must not hand its registry failure
// to a pod that has it (issue 13 item 9).
func TestCoalescingKeepsCredentialsApart(t *testing.T) {
	auth := base64.StdEncoding.EncodeToString([]byte("puller:s3cret"))
	f := newFixture(t, "")
	dockercfg, _ := json.Marshal(map[string]any{"auths": map[string]any{f.reg.Host: map[string]string{"auth": auth}}})
	g := newFixtureWith(t, f,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "private", Labels: map[string]string{sealv1.LabelEnforce: "true"}}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "pull", Namespace: "private"}, Type: corev1.SecretTypeDockerConfigJson,
			Data: map[string][]byte{corev1.DockerConfigJsonKey: dockercfg}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "private"},
			ImagePullSecrets: []corev1.LocalObjectReference{{Name: "pull"}}})
	f.reg.RequireAuth("puller", "s3cret")

	// Signature reads wait until released, so the second request arrives while the first is
	// still verifying.
	arrived := make(chan struct{}, 16)
	release := make(chan struct{})
	f.reg.Hook(func(r *http.Request) int {
		if strings.HasSuffix(r.URL.Path, ".sig") {
			arrived <- struct{}{}
			<-release
		}
		return 0
	})
	var once sync.Once
	open := func() { once.Do(func() { close(release) }) }
	t.Cleanup(open)

	review := func(ns string) admission.Response {
		return g.verifyH.Handle(context.Background(), request("Pod", ns, admissionv1.Create,
			podJSON(t, ns, corev1.PodSpec{Containers: containers(f.signed.String())}), nil))
	}
	anon, withCreds := make(chan admission.Response, 1), make(chan admission.Response, 1)
	go func() { anon <- review("prod") }()
	<-arrived
	go func() { withCreds <- review("private") }()
	select {
	case <-arrived: // its own verification reached the registry
	case <-time.After(5 * time.Second): // it joined the first request's verification
	}
	open()
	if r := <-withCreds; !r.Allowed {
		t.Errorf("pod with the pull secret denied (it shared the failure of a pod without one?): %v", r.Result)
	}
	if r := <-anon; r.Allowed {
		t.Errorf("pod without credentials admitted: a private registry's signatures cannot be read anonymously")
	}
}

// A dry run (kubectl apply --dry-run=server) records no Event: the webhook declares
// sideEffects: None (issue 13 item 9).
func TestDryRunRecordsNoEvents(t *testing.T) {
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	c := fake.NewClientBuilder().WithScheme(scheme).WithRuntimeObjects(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "prod", Labels: map[string]string{sealv1.LabelEnforce: "true"}}}).Build()
	v, err := verify.New(verify.Options{Policies: &verify.StaticPolicies{}})
	if err != nil {
		t.Fatal(err)
	}
	rec := record.NewFakeRecorder(10)
	_, vh := imageadmission.New(c, v, imageadmission.Options{Events: rec, Logger: quiet})
	isController := true
	pod := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{GenerateName: "app-", Namespace: "prod", OwnerReferences: []metav1.OwnerReference{{
			APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "app-5d4f", UID: "rs-uid", Controller: &isController}}},
		Spec: corev1.PodSpec{Containers: containers("registry.example.com/app@sha256:" + strings.Repeat("ab", 32))}}
	raw, _ := json.Marshal(pod)
	for _, dry := range []bool{true, false} {
		req := request("Pod", "prod", admissionv1.Create, raw, nil)
		req.DryRun = &dry
		if resp := vh.Handle(context.Background(), req); resp.Allowed {
			t.Fatalf("dry run %v: pod with no matching policy admitted", dry)
		}
		select {
		case e := <-rec.Events:
			if dry {
				t.Errorf("dry run recorded an Event: %q", e)
			}
		default:
			if !dry {
				t.Error("the real request recorded no Event (the recorder does not work)")
			}
		}
	}
}
