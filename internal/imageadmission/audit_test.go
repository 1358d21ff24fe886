package imageadmission_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seal-dev/seal/internal/imageadmission"
	"github.com/seal-dev/seal/internal/testing/testenv"
	"github.com/seal-dev/seal/internal/verify"
	"github.com/seal-dev/seal/internal/verify/verifytest"
	sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"
)

// TestAuditOnAPIServer runs the audit against a real API server with the upstream PolicyReport
// CRD: a storm of warn-mode pods makes one ImagePolicyWarn Event on their ReplicaSet, a
// standalone pod gets its own (with its UID, so kubectl describe shows it), the verification
// metric carries snake_case result, policy, mode and namespace, and the PolicyReports the API
// server validates list the warn, the denial and what the scan of running pods finds.
func TestAuditOnAPIServer(t *testing.T) {
	env := testenv.Start(t, testenv.Options{NoControllerManager: true,
		ExtraCRDDirs: []string{filepath.Join(testenv.RepoRoot(), "charts", "seal", "files", "policyreport")}})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	regy := verifytest.NewRegistry(t)
	key := verifytest.NewKey(t)
	signed := regy.Push(t, "team/app", "v1")
	key.SignLegacy(t, signed)
	unsigned := regy.Push(t, "team/app", "v2")

	for _, name := range []string{"staging", "prod"} {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{sealv1.LabelEnforce: "true", "env": name}}}
		if err := env.Client.Create(ctx, ns); err != nil {
			t.Fatal(err)
		}
	}
	policy := func(name string, mode sealv1.PolicyMode, envLabel string) sealv1.ImagePolicy {
		return sealv1.ImagePolicy{ObjectMeta: metav1.ObjectMeta{Name: name, UID: k8stypes.UID("uid-" + name), Generation: 1},
			Spec: sealv1.ImagePolicySpec{Mode: mode,
				Images:            []sealv1.ImagePattern{{Glob: regy.Host + "/team/**"}},
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"env": envLabel}},
				Authorities:       []sealv1.Authority{{Name: "release-key", Key: &sealv1.KeyRef{Data: key.PublicPEM}}}}}
	}
	promReg := prometheus.NewRegistry()
	v, err := verify.New(verify.Options{Registerer: promReg, RegistryTimeout: 5 * time.Second,
		Policies: &verify.StaticPolicies{Policies: []sealv1.ImagePolicy{
			policy("team-warn", sealv1.ModeWarn, "staging"), policy("team-enforce", sealv1.ModeEnforce, "prod")}}})
	if err != nil {
		t.Fatal(err)
	}

	// Real Events through client-go's broadcaster, as the manager's recorder.
	cs := kubernetes.NewForConfigOrDie(env.Config)
	bc := record.NewBroadcaster()
	bc.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: cs.CoreV1().Events("")})
	t.Cleanup(bc.Shutdown)
	rec := bc.NewRecorder(env.Scheme, corev1.EventSource{Component: "seal-webhook"})
	reports := imageadmission.NewReports(imageadmission.ReportsOptions{Client: env.Client, Logger: quiet})
	audit := imageadmission.NewAudit(imageadmission.AuditOptions{Events: rec, Reports: reports, Reader: env.Client,
		Registerer: promReg, Logger: quiet})
	go func() { _ = audit.Start(ctx) }()
	_, vh := imageadmission.New(env.Client, v, imageadmission.Options{Audit: audit, Logger: quiet})

	// A ReplicaSet whose pods run an unsigned image in warn mode: a storm of 40 pods.
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "app-5d4f", Namespace: "staging"},
		Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "a"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "a"}},
				Spec: corev1.PodSpec{Containers: containers(unsigned.String())}}}}
	if err := env.Client.Create(ctx, rs); err != nil {
		t.Fatal(err)
	}
	isController := true
	for i := 0; i < 40; i++ {
		pod := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{GenerateName: "app-5d4f-", Namespace: "staging", OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: &isController}}},
			Spec: corev1.PodSpec{Containers: containers(unsigned.String())}}
		raw, _ := json.Marshal(pod)
		if resp := vh.Handle(ctx, request("Pod", "staging", admissionv1.Create, raw, nil)); !resp.Allowed || len(resp.Warnings) == 0 {
			t.Fatalf("warn mode: allowed %v warnings %v, want admitted with a warning", resp.Allowed, resp.Warnings)
		}
	}
	// A standalone pod: the Event waits for the object to exist and carries its UID.
	solo := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "solo", Namespace: "staging"}, Spec: corev1.PodSpec{Containers: containers(unsigned.String())}}
	raw, _ := json.Marshal(solo)
	if resp := vh.Handle(ctx, request("Pod", "staging", admissionv1.Create, raw, nil)); !resp.Allowed {
		t.Fatal("warn mode denied the standalone pod")
	}
	if err := env.Client.Create(ctx, solo); err != nil { // what the API server does after admission
		t.Fatal(err)
	}
	// Enforce mode in prod: denied, reported as fail, no ImagePolicyWarn Event.
	denied, _ := json.Marshal(&corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "bad", Namespace: "prod"}, Spec: corev1.PodSpec{Containers: containers(unsigned.String())}})
	if resp := vh.Handle(ctx, request("Pod", "prod", admissionv1.Create, denied, nil)); resp.Allowed {
		t.Fatal("enforce mode admitted an unsigned image")
	}

	testenv.Eventually(t, 20*time.Second, func() error {
		var evs corev1.EventList
		if err := env.Client.List(ctx, &evs, client.InNamespace("staging")); err != nil {
			return err
		}
		got := map[string]string{}
		for _, e := range evs.Items {
			if e.Reason == imageadmission.ReasonImagePolicyWarn {
				got[e.InvolvedObject.Kind+"/"+e.InvolvedObject.Name] = string(e.InvolvedObject.UID)
				if e.Type != corev1.EventTypeWarning || !strings.Contains(e.Message, "team-warn") || e.Count > 1 {
					t.Errorf("event %s: type %s count %d message %q, want one Warning naming ImagePolicy team-warn", e.Name, e.Type, e.Count, e.Message)
				}
			}
		}
		if len(got) != 2 || got["ReplicaSet/app-5d4f"] != string(rs.UID) || got["Pod/solo"] != string(solo.UID) || solo.UID == "" {
			return fmt.Errorf("ImagePolicyWarn events by object → uid: %v, want the ReplicaSet (%s) and Pod solo (%s) once each", got, rs.UID, solo.UID)
		}
		return nil
	})
	if got := sample(t, promReg, "seal_image_policy_events_total", map[string]string{"result": "recorded"}); got != 2 {
		t.Errorf("events recorded = %v, want 2", got)
	}
	if got := sample(t, promReg, "seal_image_policy_events_total", map[string]string{"result": "deduplicated"}); got != 39 {
		t.Errorf("events deduplicated = %v, want 39 (the storm's other pods)", got)
	}
	// The verification metric: snake_case result, policy, mode and namespace.
	for _, tt := range []struct {
		labels map[string]string
		want   float64
	}{
		{map[string]string{"result": "no_signature", "decision": "warn", "policy": "team-warn", "mode": "warn", "namespace": "staging"}, 41},
		{map[string]string{"result": "no_signature", "decision": "deny", "policy": "team-enforce", "mode": "enforce", "namespace": "prod"}, 1},
	} {
		if got := sample(t, promReg, "seal_image_verifications_total", tt.labels); got != tt.want {
			t.Errorf("seal_image_verifications_total%v = %v, want %v", tt.labels, got, tt.want)
		}
	}

	// The scan: a running pod in prod with the unsigned image fails, one with the signed passes.
	for name, img := range map[string]string{"old": unsigned.String(), "good": signed.String()} {
		if err := env.Client.Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "prod"},
			Spec: corev1.PodSpec{Containers: containers(img)}}); err != nil {
			t.Fatal(err)
		}
	}
	sc := &imageadmission.Scanner{Client: env.Client, Verifier: v, Reports: reports, Interval: time.Hour, Logger: quiet}
	if err := sc.Scan(ctx); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, func() error { return reports.Flush(ctx) })
	staging := report(t, env.Client, "staging")
	if s := summary(staging); s != "pass=0 fail=0 warn=2" {
		t.Errorf("staging summary %s, want the ReplicaSet's and the solo pod's warn", s)
	}
	prod := report(t, env.Client, "prod")
	if s := summary(prod); s != "pass=1 fail=2 warn=0" {
		t.Errorf("prod summary %s, want pass=1 (good) fail=2 (bad denied at admission, old found by the scan)", s)
	}
	for _, r := range results(prod) {
		if r["source"] != "seal" || r["policy"] != "team-enforce" {
			t.Errorf("result %v: want source seal, policy team-enforce", r)
		}
	}
	// The old pod goes; the next scan drops its result.
	if err := env.Client.Delete(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "old", Namespace: "prod"}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // results carry whole seconds
	if err := sc.Scan(ctx); err != nil {
		t.Fatal(err)
	}
	if err := reports.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if s := summary(report(t, env.Client, "prod")); s != "pass=1 fail=1 warn=0" {
		t.Errorf("prod summary after the old pod went: %s, want pass=1 fail=1 (the admission denial stays)", s)
	}
}

// A full queue drops findings (counted) and never blocks admission.
func TestAuditQueueDrops(t *testing.T) {
	reg := prometheus.NewRegistry()
	a := imageadmission.NewAudit(imageadmission.AuditOptions{QueueSize: 2, Registerer: reg, Events: record.NewFakeRecorder(10)})
	for i := 0; i < 10; i++ {
		a.Record(imageadmission.Finding{Image: "x"}) // no worker: would block without the bound
	}
	if got := sample(t, reg, "seal_image_audit_findings_total", map[string]string{"result": "dropped"}); got != 8 {
		t.Errorf("dropped = %v, want 8", got)
	}
	if got := sample(t, reg, "seal_image_audit_findings_total", map[string]string{"result": "queued"}); got != 2 {
		t.Errorf("queued = %v, want 2", got)
	}
}

// sample is the counter name{labels} in reg (exactly those labels); it fails t when absent.
func sample(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue metric
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no %s%v", name, labels)
	return 0
}

func report(t *testing.T, c client.Client, ns string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(imageadmission.PolicyReportGVK)
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: imageadmission.ReportName}, u); err != nil {
		t.Fatalf("PolicyReport %s/%s: %v", ns, imageadmission.ReportName, err)
	}
	return u
}

func summary(u *unstructured.Unstructured) string {
	s, _, _ := unstructured.NestedMap(u.Object, "summary")
	return fmt.Sprintf("pass=%v fail=%v warn=%v", s["pass"], s["fail"], s["warn"])
}

func results(u *unstructured.Unstructured) []map[string]any {
	rs, _, _ := unstructured.NestedSlice(u.Object, "results")
	var out []map[string]any
	for _, r := range rs {
		out = append(out, r.(map[string]any))
	}
	return out
}
