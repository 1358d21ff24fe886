package e2e

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seal-dev/seal/internal/inject"
	"github.com/seal-dev/seal/internal/rot/rottest"
	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/testing/testenv"
)

// TestRealNodeTokenRenewalLong (make e2e-long, about 12 minutes): a bound workload's rotating
// sidecar keeps renewing past the lifetime of the first projected ServiceAccount token. The
// API server issues projected tokens for at least 600 s and the kubelet replaces the file at
// 80% of that, so only a wait of over ten minutes shows a renewal made with a token the kubelet
// rotated, after the first one expired. The short representative in make test is enroll's
// TestTokenReadAtEveryRenewal (a real ROT refusing the expired token and taking the new file).
func TestRealNodeTokenRenewalLong(t *testing.T) {
	if os.Getenv("SEAL_E2E_LONG") == "" {
		t.Skip("waits over ten minutes for a projected token to expire: run make e2e-long (SEAL_E2E_LONG=1)")
	}
	env := testenv.Start(t)
	node := env.StartNode(t)
	r := rottest.Start(t)
	injectionWebhook(t, env, r.TrustDomain)
	nodeImages(t, node)
	ctx := context.Background()
	addCluster(t, env, r, "e2e")
	ns := env.Namespace(t, map[string]string{inject.LabelInject: inject.NamespaceEnabled})
	r.CreateWorkload(t, rotapi.Workload{Name: "ticker", Peers: []string{"clock"}, CertTTL: "1m",
		Bindings: []rotapi.Binding{{Cluster: "e2e", Namespace: ns, ServiceAccount: "clock"}}})
	if err := env.Client.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "clock"}}); err != nil {
		t.Fatal(err)
	}
	eggSecret(t, env, ns, "egg-clock", r.MintEgg(t, "ticker", rotapi.MintRequest{Peer: "clock"}))
	d := demoDeployment(ns, "clock", 1, "ticker", "clock", "egg-clock", map[string]string{inject.AnnotationRotate: "true"},
		"serve", "--listen", "127.0.0.1:"+strconv.Itoa(freeLoopbackPort(t)))
	d.Spec.Template.Spec.ServiceAccountName = "clock"
	if err := env.Client.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	pod := runningPod(t, env, ns, "clock")
	start := pod.CreationTimestamp.Time
	expired := start.Add(600 * time.Second) // the first projected token's exp at the latest
	wrote := regexp.MustCompile(`time=(\S+) level=INFO msg="wrote identity"`)
	testenv.Eventually(t, 15*time.Minute, func() error {
		logs := node.PodLogs(t, ns, pod.Name, inject.InitContainerName)
		for _, m := range wrote.FindAllStringSubmatch(logs, -1) {
			if at, err := time.Parse(time.RFC3339Nano, m[1]); err == nil && at.After(expired.Add(30*time.Second)) {
				return nil
			}
		}
		return fmt.Errorf("no renewal yet after the first token expired at %s (now %s)", expired.Format(time.RFC3339), time.Now().Format(time.RFC3339))
	})
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(&pod), &pod); err != nil {
		t.Fatal(err)
	}
	for _, st := range append(pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses...) {
		if st.RestartCount != 0 {
			t.Errorf("container %s restarted %d times, want 0: a renewal was refused", st.Name, st.RestartCount)
		}
	}
	t.Logf("seal-init renewed with the kubelet's rotated token after the first one expired; %d identities written in %s",
		len(wrote.FindAllString(node.PodLogs(t, ns, pod.Name, inject.InitContainerName), -1)), time.Since(start).Round(time.Second))
}
