package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seal-dev/seal/internal/inject"
	"github.com/seal-dev/seal/internal/rot/rottest"
	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/testing/testenv"
)

// addCluster makes the test cluster known to the ROT as name, by its issuer and the keys of
// /openid/v1/jwks, as docs/binding.md's private-issuer set-up does with kubectl get --raw.
func addCluster(t *testing.T, env *testenv.Env, r *rottest.ROT, name string) {
	t.Helper()
	ctx := context.Background()
	cs := kubernetes.NewForConfigOrDie(env.Config)
	var disco struct {
		Issuer string `json:"issuer"`
	}
	raw, err := cs.RESTClient().Get().AbsPath("/.well-known/openid-configuration").DoRaw(ctx)
	if err != nil || json.Unmarshal(raw, &disco) != nil {
		t.Fatalf("openid-configuration: %s, %v", raw, err)
	}
	jwks, err := cs.RESTClient().Get().AbsPath("/openid/v1/jwks").DoRaw(ctx) // kubectl get --raw /openid/v1/jwks
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Admin.Do(ctx, http.MethodPut, rotapi.Path(rotapi.PathCluster, name), rotapi.Cluster{Issuer: disco.Issuer, JWKS: string(jwks)}, nil); err != nil {
		t.Fatal(err)
	}
}

// TestRealNodePodBinding runs pod binding on the real kubelet: the ROT knows the test cluster
// by its issuer and /openid/v1/jwks, workload payments is bound to one namespace and service
// account, the webhook projects the pod's token into seal-init (the pods turn
// automountServiceAccountToken off), and the kubelet writes it. A pod of the bound namespace
// redeems; the same Egg in another namespace stays in Init, seal-init's message naming the
// binding; the Egg alone, POSTed like curl does, is refused with 401.
func TestRealNodePodBinding(t *testing.T) {
	env := testenv.Start(t)
	node := env.StartNode(t)
	r := rottest.Start(t)
	injectionWebhook(t, env, r.TrustDomain)
	nodeImages(t, node)
	ctx := context.Background()

	addCluster(t, env, r, "e2e")

	bound := env.Namespace(t, map[string]string{inject.LabelInject: inject.NamespaceEnabled})
	other := env.Namespace(t, map[string]string{inject.LabelInject: inject.NamespaceEnabled})
	r.CreateWorkload(t, rotapi.Workload{Name: "payments", Peers: []string{"api"},
		Bindings: []rotapi.Binding{{Cluster: "e2e", Namespace: bound, ServiceAccount: "api"}}})
	eggText := r.MintEgg(t, "payments", rotapi.MintRequest{Peer: "api"})
	for _, ns := range []string{bound, other} {
		if err := env.Client.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "api"}}); err != nil {
			t.Fatal(err)
		}
		eggSecret(t, env, ns, "egg-api", eggText)
		d := demoDeployment(ns, "api", 1, "payments", "api", "egg-api", nil, "serve", "--listen", "127.0.0.1:"+strconv.Itoa(freeLoopbackPort(t)))
		d.Spec.Template.Spec.ServiceAccountName = "api"
		if err := env.Client.Create(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	apiID := "spiffe://" + r.TrustDomain + "/workload/payments/peer/api"

	t.Run("a pod of the bound namespace and service account redeems", func(t *testing.T) {
		pod := runningPod(t, env, bound, "api")
		if a := pod.Spec.AutomountServiceAccountToken; a == nil || *a {
			t.Errorf("pod %s automountServiceAccountToken = %v, want false", pod.Name, a)
		}
		for _, c := range pod.Spec.Containers {
			for _, m := range c.VolumeMounts {
				if m.Name == inject.TokenVolumeName {
					t.Errorf("app container %s mounts the ServiceAccount token", c.Name)
				}
			}
		}
		logEventually(t, node, bound, pod.Name, inject.InitContainerName, time.Minute, `msg="wrote identity" .*spiffeID=`+regexp.QuoteMeta(apiID))
		logEventually(t, node, bound, pod.Name, "app", time.Minute, `msg="serving mTLS" .*id=`+regexp.QuoteMeta(apiID))
	})

	t.Run("the same Egg in another namespace stays in Init", func(t *testing.T) {
		var pod corev1.Pod
		var msg string
		testenv.Eventually(t, 3*time.Minute, func() error {
			var pods corev1.PodList
			if err := env.Client.List(ctx, &pods, client.InNamespace(other), client.MatchingLabels{"app": "api"}); err != nil {
				return err
			}
			for _, p := range pods.Items {
				for _, s := range p.Status.InitContainerStatuses {
					term := s.State.Terminated
					if term == nil {
						term = s.LastTerminationState.Terminated
					}
					if s.Name == inject.InitContainerName && term != nil && term.ExitCode != 0 {
						pod, msg = p, term.Message
						return nil
					}
				}
			}
			return fmt.Errorf("no failed seal-init in %s yet: %s", other, testenv.PodStatusSummary(pods.Items))
		})
		if pod.Status.Phase != corev1.PodPending {
			t.Errorf("pod %s phase %s, want Pending (Init:Error)", pod.Name, pod.Status.Phase)
		}
		for _, s := range pod.Status.ContainerStatuses {
			if s.State.Running != nil {
				t.Errorf("app container %s runs in a namespace the workload is not bound to", s.Name)
			}
		}
		want := "runs as e2e/" + other + "/api, which is not bound to this workload (bound: e2e/" + bound + "/api)"
		if !strings.Contains(msg, "refused this pod's ServiceAccount token (403") || !strings.Contains(msg, want) {
			t.Errorf("seal-init's termination message %q, want the refusal naming %q", msg, want)
		}
		t.Logf("kubectl describe pod shows seal-init's message: %s", strings.TrimSpace(msg))
	})

	t.Run("the Egg alone, POSTed with curl, is refused", func(t *testing.T) {
		roots := x509.NewCertPool()
		roots.AppendCertsFromPEM(r.CAPEM)
		hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
		body, _ := json.Marshal(map[string]string{"egg": eggText, "csr": "unused"})
		resp, err := hc.Post(r.URL+rotapi.PathRedeem, "application/json", bytes.NewReader(body)) // curl -d @- $ROT/v1/redeem
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var e rotapi.Error
		_ = json.NewDecoder(resp.Body).Decode(&e)
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(e.Error, "no ServiceAccount token") {
			t.Errorf("got %d %q, want 401 asking for the ServiceAccount token", resp.StatusCode, e.Error)
		}
	})
}
