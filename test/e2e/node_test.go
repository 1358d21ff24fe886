package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seal-dev/seal/hack/ociimage"
	"github.com/seal-dev/seal/internal/inject"
	"github.com/seal-dev/seal/internal/rot/rottest"
	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/testing/testenv"
)

// The images the node runs. The seal-init tag and binary path are the ones injectionWebhook
// configures the webhook with.
const (
	initImage = "ghcr.io/seal-dev/seal-init:test"
	appImage  = "seal.test/demoapp:e2e"
)

// nodeImages builds seal-init and the demo app as images (no container engine) and imports
// them into the node's containerd.
func nodeImages(t *testing.T, node *testenv.Node) {
	t.Helper()
	dir := t.TempDir()
	// seal-init has the published layout: /usr/local/bin/seal-init, linked from /seal-init, and
	// seal-agent beside it.
	agent, err := os.ReadFile(testenv.Binary(t, "./cmd/agent"))
	if err != nil {
		t.Fatal(err)
	}
	for _, im := range []struct {
		ref, pkg, name string
		links          []string
		companions     []ociimage.Companion
	}{
		{initImage, "./cmd/init", "seal-init", []string{"/seal-init"},
			[]ociimage.Companion{{Path: "/usr/local/bin/seal-agent", Binary: agent, Links: []string{"/seal-agent"}}}},
		{appImage, "./test/demoapp", "demoapp", nil, nil},
	} {
		img, err := ociimage.ImageFromFile(ociimage.Spec{Name: im.name, Links: im.links, Version: "e2e", Companions: im.companions}, testenv.Binary(t, im.pkg))
		if err != nil {
			t.Fatal(err)
		}
		tarball := filepath.Join(dir, im.name+".tar")
		if err := ociimage.WriteTarball(tarball, im.ref, img); err != nil {
			t.Fatal(err)
		}
		node.ImportImage(t, tarball)
	}
}

// freeLoopbackPort returns a port on 127.0.0.1 that was free a moment ago (pods here share the
// host's network, so every server needs its own).
func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// demoDeployment runs the demo app with args for (workload, peer) on the node, its Egg from
// the Secret eggSecret.
func demoDeployment(ns, name string, replicas int32, workload, peer, eggSecret string, extra map[string]string, args ...string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	ann := map[string]string{inject.AnnotationWorkload: workload, inject.AnnotationPeer: peer, inject.AnnotationEgg: "secret:" + eggSecret + "/egg"}
	for k, v := range extra {
		ann[k] = v
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: ann},
				Spec:       testenv.NodePodSpec(corev1.Container{Name: "app", Image: appImage, Args: args}),
			},
		},
	}
}

// eggSecret stores an Egg as the Secret name (key "egg").
func eggSecret(t *testing.T, env *testenv.Env, ns, name, egg string) {
	t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, StringData: map[string]string{"egg": egg}}
	if err := env.Client.Create(context.Background(), s); err != nil {
		t.Fatal(err)
	}
}

// runningPod waits until the app's single pod runs and returns it.
func runningPod(t *testing.T, env *testenv.Env, ns, app string) corev1.Pod {
	t.Helper()
	var pod corev1.Pod
	testenv.Eventually(t, 3*time.Minute, func() error {
		var pods corev1.PodList
		if err := env.Client.List(context.Background(), &pods, client.InNamespace(ns), client.MatchingLabels{"app": app}); err != nil {
			return err
		}
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodRunning {
				pod = p
				return nil
			}
		}
		return fmt.Errorf("no running pod of %s: %s", app, testenv.PodStatusSummary(pods.Items))
	})
	return pod
}

// logEventually waits until the container's log matches re and returns the log.
func logEventually(t *testing.T, node *testenv.Node, ns, pod, container string, timeout time.Duration, re string) string {
	t.Helper()
	got, err := node.WaitLog(context.Background(), ns, pod, container, regexp.MustCompile(re), timeout)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestRealNode runs injected pods on a real kubelet with real containers: the webhook adds
// seal-init, seal-init redeems the Egg from the pod's Secret at the ROT, and the demo app does
// mTLS with the identity files; refused identities, revoked Eggs and renewal are shown too.
func TestRealNode(t *testing.T) {
	env := testenv.Start(t)
	node := env.StartNode(t)
	r := rottest.Start(t)
	injectionWebhook(t, env, r.TrustDomain)
	nodeImages(t, node)
	ctx := context.Background()
	ns := env.Namespace(t, map[string]string{inject.LabelInject: inject.NamespaceEnabled})
	td := r.TrustDomain

	r.CreateWorkload(t, rotapi.Workload{Name: "payments", Peers: []string{"api", "web"}})
	r.CreateWorkload(t, rotapi.Workload{Name: "shop"})
	r.CreateWorkload(t, rotapi.Workload{Name: "ticker", Peers: []string{"clock", "reader"}, CertTTL: "1m"})
	eggSecret(t, env, ns, "egg-api", r.MintEgg(t, "payments", rotapi.MintRequest{Peer: "api"}))
	eggSecret(t, env, ns, "egg-web", r.MintEgg(t, "payments", rotapi.MintRequest{Peer: "web"}))
	eggSecret(t, env, ns, "egg-shop", r.MintEgg(t, "shop", rotapi.MintRequest{}))
	eggSecret(t, env, ns, "egg-clock", r.MintEgg(t, "ticker", rotapi.MintRequest{Peer: "clock"}))
	eggSecret(t, env, ns, "egg-reader", r.MintEgg(t, "ticker", rotapi.MintRequest{Peer: "reader"}))
	revoked := r.MintEggInfo(t, "payments", rotapi.MintRequest{Peer: "web"})
	r.RevokeEgg(t, revoked.ID)
	eggSecret(t, env, ns, "egg-revoked", revoked.Egg)

	apiAddr := "127.0.0.1:" + strconv.Itoa(freeLoopbackPort(t))
	for _, d := range []*appsv1.Deployment{
		demoDeployment(ns, "api", 1, "payments", "api", "egg-api", nil, "serve", "--listen", apiAddr),
		demoDeployment(ns, "web", 2, "payments", "web", "egg-web", nil, "call", "--addr", apiAddr),
		demoDeployment(ns, "intruder", 1, "shop", "any", "egg-shop", nil, "call", "--addr", apiAddr, "--any-server"),
		demoDeployment(ns, "revoked", 1, "payments", "web", "egg-revoked", nil, "call", "--addr", apiAddr),
	} {
		if err := env.Client.Create(ctx, d); err != nil {
			t.Fatalf("creating deployment %s: %v", d.Name, err)
		}
	}
	apiID := "spiffe://" + td + "/workload/payments/peer/api"
	webID := "spiffe://" + td + "/workload/payments/peer/web"

	t.Run("seal-init redeems the Egg and the app starts with its identity", func(t *testing.T) {
		api := runningPod(t, env, ns, "api")
		st := api.Status.InitContainerStatuses
		if len(st) == 0 || st[0].Name != inject.InitContainerName || st[0].State.Terminated == nil || st[0].State.Terminated.ExitCode != 0 {
			t.Fatalf("pod %s: init container statuses %+v, want seal-init terminated with exit code 0", api.Name, st)
		}
		logEventually(t, node, ns, api.Name, inject.InitContainerName, time.Minute, `msg="wrote identity" .*spiffeID=`+regexp.QuoteMeta(apiID))
		logEventually(t, node, ns, api.Name, "app", time.Minute, `msg="serving mTLS" .*id=`+regexp.QuoteMeta(apiID))
	})

	t.Run("two peers of one workload complete mTLS", func(t *testing.T) {
		api := runningPod(t, env, ns, "api")
		runningPod(t, env, ns, "web")
		webs := podsOf(t, env, ns, "web", 2)
		if len(webs) != 2 {
			t.Fatalf("web has %d pods, want its 2 replicas", len(webs))
		}
		for _, web := range webs { // both replicas of the client, through the real ReplicaSet controller
			logEventually(t, node, ns, web.Name, "app", 2*time.Minute, `msg="mTLS call succeeded" server=`+regexp.QuoteMeta(apiID))
		}
		logEventually(t, node, ns, api.Name, "app", time.Minute, `msg="authorized peer" peer=`+regexp.QuoteMeta(webID))
	})

	t.Run("the server refuses a pod of another workload", func(t *testing.T) {
		api := runningPod(t, env, ns, "api")
		in := runningPod(t, env, ns, "intruder")
		logEventually(t, node, ns, in.Name, "app", 2*time.Minute, `msg="mTLS call failed"`)
		refused := logEventually(t, node, ns, api.Name, "app", time.Minute, `msg="refused peer" error="sealtls: peer `+regexp.QuoteMeta("spiffe://"+td+"/workload/shop/peer/any")+`: `)
		t.Logf("the server's refusal: %s", regexp.MustCompile(`.*msg="refused peer".*`).FindString(refused))
		if got := node.PodLogs(t, ns, api.Name, "app"); strings.Contains(got, `msg="authorized peer" peer=spiffe://`+td+"/workload/shop") {
			t.Errorf("the server authorized the shop workload:\n%s", got)
		}
		if got := node.PodLogs(t, ns, in.Name, "app"); strings.Contains(got, "mTLS call succeeded") {
			t.Errorf("a pod of workload shop completed a call:\n%s", got)
		}
	})

	t.Run("a revoked Egg stops the pod in its init container", func(t *testing.T) {
		var pod corev1.Pod
		testenv.Eventually(t, 3*time.Minute, func() error {
			var pods corev1.PodList
			if err := env.Client.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{"app": "revoked"}); err != nil {
				return err
			}
			for _, p := range pods.Items {
				for _, s := range p.Status.InitContainerStatuses {
					failed := (s.State.Terminated != nil && s.State.Terminated.ExitCode != 0) ||
						(s.LastTerminationState.Terminated != nil && s.LastTerminationState.Terminated.ExitCode != 0)
					if s.Name == inject.InitContainerName && failed {
						pod = p
						return nil
					}
				}
			}
			return fmt.Errorf("no pod of revoked with a failed seal-init yet: %s", testenv.PodStatusSummary(pods.Items))
		})
		if pod.Status.Phase != corev1.PodPending {
			t.Errorf("pod %s phase %s, want Pending (Init:Error / Init:CrashLoopBackOff)", pod.Name, pod.Status.Phase)
		}
		for _, s := range pod.Status.ContainerStatuses {
			if s.State.Running != nil {
				t.Errorf("app container %s runs although the Egg is revoked", s.Name)
			}
		}
		got := logEventually(t, node, ns, pod.Name, inject.InitContainerName, time.Minute, `(?i)revoked`)
		t.Logf("seal-init's log in %s:\n%s", pod.Name, tailLines(got, 3))
		// What `kubectl describe pod` shows: seal-init's termination message names the cause.
		for _, s := range pod.Status.InitContainerStatuses {
			term := s.State.Terminated
			if term == nil {
				term = s.LastTerminationState.Terminated
			}
			if s.Name == inject.InitContainerName && (term == nil || !strings.Contains(strings.ToLower(term.Message), "revoked")) {
				t.Errorf("seal-init termination %+v, want a message saying the Egg is revoked", term)
			}
		}
	})

	t.Run("the injected native sidecar renews a short-lived certificate while the app keeps serving", func(t *testing.T) {
		// Certificates of workload ticker live 1m; only the server renews, so both start now and
		// the reader's certificate outlives the server's renewal at about 40s. The server asks
		// for rotation with seal.dev/rotate on a hostNetwork pod: the webhook makes seal-init a
		// native sidecar whose probes run `seal-init check`, with no port to share on the node.
		clockAddr := "127.0.0.1:" + strconv.Itoa(freeLoopbackPort(t))
		if err := env.Client.Create(ctx, demoDeployment(ns, "clock", 1, "ticker", "clock", "egg-clock",
			map[string]string{inject.AnnotationRotate: "true"}, "serve", "--listen", clockAddr)); err != nil {
			t.Fatal(err)
		}
		if err := env.Client.Create(ctx, demoDeployment(ns, "reader", 1, "ticker", "reader", "egg-reader", nil, "call", "--addr", clockAddr)); err != nil {
			t.Fatal(err)
		}
		clock := runningPod(t, env, ns, "clock")
		checkInjectedSidecar(t, &clock)
		reader := runningPod(t, env, ns, "reader")
		// The certificate lives 1m and is renewed at about 2/3 of it: the reader, calling every
		// second, sees the server's certificate change with no failed call in between.
		ok := regexp.MustCompile(`msg="mTLS call succeeded" .*serial=(\d+)`)
		var between string
		testenv.Eventually(t, 3*time.Minute, func() error {
			got := node.PodLogs(t, ns, reader.Name, "app")
			first := ok.FindStringSubmatchIndex(got)
			if first == nil {
				return fmt.Errorf("no successful call yet:\n%s", tailLines(got, 10))
			}
			serial := got[first[2]:first[3]]
			for _, m := range ok.FindAllStringSubmatchIndex(got, -1) {
				if got[m[2]:m[3]] != serial {
					between = got[first[0]:m[1]]
					return nil
				}
			}
			return fmt.Errorf("the reader saw only server certificate %s so far:\n%s", serial, tailLines(got, 5))
		})
		if strings.Contains(between, "mTLS call failed") {
			t.Errorf("calls failed while the certificate was renewed:\n%s", between)
		}
		t.Logf("the reader's calls until the server's certificate changed: %d succeeded, none failed; first and last:\n%s",
			strings.Count(between, "mTLS call succeeded"), headTail(between))
		logEventually(t, node, ns, clock.Name, inject.InitContainerName, time.Minute, `(?s)msg="wrote identity".*msg="next renewal".*msg="wrote identity"`)
		// After the renewal the kubelet's exec probe still finds a valid identity: the pod is
		// Ready, and neither the sidecar nor the app restarted.
		testenv.Eventually(t, time.Minute, func() error {
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(&clock), &clock); err != nil {
				return err
			}
			for _, c := range clock.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
					return nil
				}
			}
			return fmt.Errorf("pod %s is not Ready: %+v", clock.Name, clock.Status.Conditions)
		})
		for _, st := range append(clock.Status.InitContainerStatuses, clock.Status.ContainerStatuses...) {
			if st.RestartCount != 0 {
				t.Errorf("container %s restarted %d times during the renewal, want 0", st.Name, st.RestartCount)
			}
		}
	})

	t.Run("apps of rotating pods complete mTLS with go-spiffe through the SPIFFE Workload API", func(t *testing.T) {
		// Both pods rotate, so the webhook runs seal-agent, which serves the Workload API on the
		// seal volume and points SPIFFE_ENDPOINT_SOCKET at it; the app uses go-spiffe's
		// workloadapi.NewX509Source and spiffetls' tlsconfig, not Seal's files.
		r.CreateWorkload(t, rotapi.Workload{Name: "spiffe", Peers: []string{"server", "client"}})
		eggSecret(t, env, ns, "egg-wapi-server", r.MintEgg(t, "spiffe", rotapi.MintRequest{Peer: "server"}))
		eggSecret(t, env, ns, "egg-wapi-client", r.MintEgg(t, "spiffe", rotapi.MintRequest{Peer: "client"}))
		addr := "127.0.0.1:" + strconv.Itoa(freeLoopbackPort(t))
		rotate := map[string]string{inject.AnnotationRotate: "true"}
		for _, d := range []*appsv1.Deployment{
			demoDeployment(ns, "wapi-server", 1, "spiffe", "server", "egg-wapi-server", rotate, "serve", "--workload-api", "--listen", addr),
			demoDeployment(ns, "wapi-client", 1, "spiffe", "client", "egg-wapi-client", rotate, "call", "--workload-api", "--addr", addr),
		} {
			if err := env.Client.Create(ctx, d); err != nil {
				t.Fatal(err)
			}
		}
		server, client := runningPod(t, env, ns, "wapi-server"), runningPod(t, env, ns, "wapi-client")
		serverID, clientID := "spiffe://"+td+"/workload/spiffe/peer/server", "spiffe://"+td+"/workload/spiffe/peer/client"
		logEventually(t, node, ns, server.Name, inject.InitContainerName, time.Minute, `msg="serving the SPIFFE Workload API" socket=`+regexp.QuoteMeta(inject.AgentSocket))
		logEventually(t, node, ns, client.Name, "app", 2*time.Minute, `msg="mTLS call succeeded" server=`+regexp.QuoteMeta(serverID))
		logEventually(t, node, ns, server.Name, "app", time.Minute, `msg="authorized peer" peer=`+regexp.QuoteMeta(clientID))
	})
}

// checkInjectedSidecar fails unless pod is a hostNetwork pod whose seal-init the webhook made a
// native sidecar probed by `seal-init check`, with no port, and which the kubelet started.
func checkInjectedSidecar(t *testing.T, pod *corev1.Pod) {
	t.Helper()
	if !pod.Spec.HostNetwork {
		t.Errorf("pod %s does not use hostNetwork", pod.Name)
	}
	if !strings.Contains(pod.Annotations[inject.AnnotationStatus], `"rotate":true`) {
		t.Errorf("pod %s status annotation %q, want rotate injected", pod.Name, pod.Annotations[inject.AnnotationStatus])
	}
	var sc *corev1.Container
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == inject.InitContainerName {
			sc = &pod.Spec.InitContainers[i]
		}
	}
	if sc == nil || sc.RestartPolicy == nil || *sc.RestartPolicy != corev1.ContainerRestartPolicyAlways {
		t.Fatalf("pod %s: seal-init %+v, want a native sidecar (restartPolicy Always)", pod.Name, sc)
	}
	want := inject.CheckCommand(sc.Command[0])
	if p := sc.StartupProbe; p == nil || p.Exec == nil || !slices.Equal(p.Exec.Command, want) {
		t.Errorf("seal-init startupProbe %+v, want exec %q", p, want)
	}
	if len(sc.Ports) != 0 || slices.ContainsFunc(sc.Args, func(a string) bool { return strings.Contains(a, "health") }) {
		t.Errorf("seal-init ports %v args %q, want no port", sc.Ports, sc.Args)
	}
	for _, st := range pod.Status.InitContainerStatuses {
		if st.Name == inject.InitContainerName && (st.Started == nil || !*st.Started || st.State.Running == nil) {
			t.Errorf("seal-init status %+v, want running and started (its exec startup probe passed)", st)
		}
	}
}

// headTail is the first and the last line of s.
func headTail(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[0] + "\n" + lines[len(lines)-1]
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
