package e2e

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seal-dev/seal/internal/inject"
	"github.com/seal-dev/seal/internal/rot/rottest"
	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/testing/testenv"
)

// TestRealNodeSecrets runs injected pods on a real kubelet: the app container of a pod with
// seal.dev/rotate reads /var/run/seal/secrets/db-password and sees the new value after the
// real sealctl changes it, with no restart; a pod with seal.dev/secrets: "false" gets none.
func TestRealNodeSecrets(t *testing.T) {
	env := testenv.Start(t)
	node := env.StartNode(t)
	r := rottest.Start(t)
	injectionWebhook(t, env, r.TrustDomain)
	nodeImages(t, node)
	ctx := context.Background()
	ns := env.Namespace(t, map[string]string{inject.LabelInject: inject.NamespaceEnabled})
	sealctl := func(args ...string) {
		t.Helper()
		cmd := exec.Command(testenv.Binary(t, "./cmd/sealctl"), append([]string{"--rot", r.URL, "--admin", r.AdminDir}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("sealctl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	r.CreateWorkload(t, rotapi.Workload{Name: "payments"})
	eggSecret(t, env, ns, "egg-payments", r.MintEgg(t, "payments", rotapi.MintRequest{}))
	sealctl("secret", "put", "payments", "db-password", "--from-literal", "first-s3cret")

	for _, d := range []struct {
		name string
		ann  map[string]string
	}{
		{"watcher", map[string]string{inject.AnnotationRotate: "true"}},
		{"nosecrets", map[string]string{inject.AnnotationSecrets: "false"}},
	} {
		if err := env.Client.Create(ctx, demoDeployment(ns, d.name, 1, "payments", "any", "egg-payments", d.ann, "secret", "--name", "db-password")); err != nil {
			t.Fatal(err)
		}
	}

	watcher := runningPod(t, env, ns, "watcher")
	logEventually(t, node, ns, watcher.Name, "app", time.Minute, `msg="secret value" .*value=first-s3cret`)
	sealctl("secret", "put", "payments", "db-password", "--from-literal", "second-s3cret")
	start := time.Now()
	// The sidecar polls every 30s (the default --secrets-interval): two intervals, plus slack.
	logEventually(t, node, ns, watcher.Name, "app", 90*time.Second, `msg="secret value" .*value=second-s3cret`)
	t.Logf("the app saw the new value %s after sealctl secret put", time.Since(start).Round(time.Second))
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(&watcher), &watcher); err != nil {
		t.Fatal(err)
	}
	for _, st := range append(watcher.Status.InitContainerStatuses, watcher.Status.ContainerStatuses...) {
		if st.RestartCount != 0 {
			t.Errorf("container %s restarted %d times, want 0", st.Name, st.RestartCount)
		}
	}
	if logs := node.PodLogs(t, ns, watcher.Name, inject.InitContainerName); strings.Contains(logs, "s3cret") {
		t.Errorf("seal-init logged a secret value:\n%s", logs)
	}

	off := runningPod(t, env, ns, "nosecrets")
	var sc *corev1.Container
	for i := range off.Spec.InitContainers {
		if off.Spec.InitContainers[i].Name == inject.InitContainerName {
			sc = &off.Spec.InitContainers[i]
		}
	}
	if sc == nil || !strings.Contains(strings.Join(sc.Args, " "), "--secrets=false") {
		t.Errorf("seal-init of a seal.dev/secrets: \"false\" pod: %+v, want --secrets=false", sc)
	}
	logEventually(t, node, ns, off.Name, "app", time.Minute, `msg="secret absent"`)
}
