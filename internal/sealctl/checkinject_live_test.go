package sealctl

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/seal-dev/seal/internal/inject"
	"github.com/seal-dev/seal/internal/testing/testenv"
)

// TestCheckInjectLive: check-inject reads real pods and namespaces from a real API server
// through a kubeconfig, and seal-webhook's namespace from its MutatingWebhookConfiguration.
// No webhook runs, so a pod Seal would inject is created as is: check-inject calls it missed.
func TestCheckInjectLive(t *testing.T) {
	env := testenv.Start(t, testenv.Options{NoControllerManager: true, NoCRDs: true})
	ctx := context.Background()
	enabled := env.Namespace(t, map[string]string{inject.LabelInject: inject.NamespaceEnabled})
	plain := env.Namespace(t, nil)
	sealNS := env.Namespace(t, map[string]string{inject.LabelInject: inject.NamespaceEnabled})
	create := func(ns, name string, ann map[string]string) {
		t.Helper()
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Annotations: ann},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27"}}},
		}
		if err := env.Client.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	work := map[string]string{inject.AnnotationWorkload: "payments"}
	create(enabled, "missed", work)
	create(enabled, "injected", map[string]string{inject.AnnotationWorkload: "payments", inject.AnnotationStatus: `{"workload":"payments"}`})
	create(enabled, "anonymous", nil)
	create(plain, "plain", work)
	create(sealNS, "own", work)
	// seal-webhook's configuration, as the chart installs it, serving from sealNS. It matches
	// no pod (created after them, and failing open) and is only read.
	ignore := admissionregistrationv1.Ignore
	none := admissionregistrationv1.SideEffectClassNone
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: webhookConfigName},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    inject.WebhookNamespace,
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{Namespace: sealNS, Name: "seal-webhook"}},
			FailurePolicy:           &ignore,
			SideEffects:             &none,
			AdmissionReviewVersions: []string{"v1"},
			ObjectSelector:          &metav1.LabelSelector{MatchLabels: map[string]string{"seal.dev/never": "x"}},
		}},
	}
	if err := env.Client.Create(ctx, mwc); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		ns, pod      string
		wantReason   string
		wantInjected bool
	}{
		{enabled, "missed", "missed", false},
		{enabled, "injected", "injected", true},
		{enabled, "anonymous", "no-workload", false},
		{plain, "plain", "not-selected", false},
		{sealNS, "own", "system-namespace", false},
	}
	for _, tt := range tests {
		t.Run(tt.pod, func(t *testing.T) {
			r := run(t, nil, "", "check-inject", "--kubeconfig", env.Kubeconfig, "-n", tt.ns, tt.pod, "-o", "json")
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			var got checkReport
			if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
				t.Fatalf("%v\n%s", err, r.stdout)
			}
			if got.Reason != tt.wantReason || got.Injected != tt.wantInjected || got.Namespace != tt.ns || got.Pod != tt.pod {
				t.Errorf("got %s/%s reason %q injected %v, want %s/%s %q %v (why: %s)", got.Namespace, got.Pod, got.Reason, got.Injected, tt.ns, tt.pod, tt.wantReason, tt.wantInjected, got.Why)
			}
		})
	}
	t.Run("missing pod", func(t *testing.T) {
		r := run(t, nil, "", "check-inject", "--kubeconfig", env.Kubeconfig, "-n", plain, "nope")
		if r.code != ExitFailed || !strings.Contains(r.stderr, "reading pod "+plain+"/nope") || !strings.Contains(r.stderr, "not found") {
			t.Errorf("exit %d stderr %q, want 1 and the pod not found", r.code, r.stderr)
		}
	})
}
