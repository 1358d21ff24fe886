package main

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seal-dev/seal/internal/inject"
	"github.com/seal-dev/seal/internal/testing/testenv"
)

// The real-node part runs in its own namespace, which has no Seal label: its pods opt in with
// seal.dev/inject=true (the chart's inject-pod.seal.dev webhook), so injection applies, while
// pinning and signature checks, which act only in enforced namespaces, leave the images the
// demo imported into the node alone.
const (
	nodeNamespace = "live"
	// NodeAvailable is the line the demo prints before running pods on a real kubelet.
	NodeAvailable = "A real kubelet is available: running the pods for real."
	// NoNode starts the line the demo prints when it cannot run a real node, before the reason.
	NoNode = "no real node here: "
)

// realNode runs the story's pods for real when this machine can (root, containerd, the
// kubelet): the kubelet runs the injected seal-init as an init container, then the demo app,
// and a server and a caller of workload payments complete mTLS. Otherwise it says why not.
func (d *story) realNode(ctx context.Context) error {
	if err := testenv.NodeRequirements(); err != nil {
		reason := strings.TrimPrefix(err.Error(), "testenv: ")
		d.n.Step("Running the pods on a real kubelet: skipped.")
		d.n.Say("%s%s; seal-init ran as a process above", NoNode, reason)
		d.n.Skipped("no real kubelet here (%s): seal-init ran as a process instead", reason)
		return nil
	}
	d.n.Step(NodeAvailable)
	d.n.Say("Starting a private containerd and the kubelet, registered as node %s.", testenv.NodeName)
	node, err := d.env.LaunchNode(ctx, func(dir string) { d.n.Say("(removed %s, left by an earlier run)", dir) })
	if err != nil {
		return err
	}
	d.h.Cleanup(func() {
		if err := node.Stop(); err != nil {
			fmt.Fprintf(d.n.w, "seal-demo: stopping the node: %v\n", err)
		}
	})
	d.n.Say("Node %s is Ready (containerd and kubelet state in %s).", node.Name, node.Dir)

	d.n.Say("Building images of seal-init and the demo app (no container engine) and importing them:")
	appImage, err := d.nodeImages(ctx, node)
	if err != nil {
		return err
	}

	d.n.Say("Namespace %s has no Seal label; the pods opt in with the label %s=true.", nodeNamespace, inject.LabelInject)
	if err := d.env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: nodeNamespace}}); err != nil {
		return err
	}
	for _, p := range []string{peer, "web"} {
		egg, err := d.sealctl(ctx, nil, "egg", "mint", workload, "--peer", p, "--ttl", "1h")
		if err != nil {
			return err
		}
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: nodeNamespace, Name: "egg-" + p}, StringData: map[string]string{"egg": egg}}
		if err := d.env.Client.Create(ctx, s); err != nil {
			return err
		}
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	d.sh("kubectl", "-n", nodeNamespace, "apply", "-f", "api.yaml", "-f", "web.yaml")
	d.n.Say("Deployment api runs `demoapp serve --listen %s` as peer %s; Deployment web runs `demoapp call --addr %s` as peer web.", addr, peer, addr)
	for _, dep := range []*appsv1.Deployment{
		nodeDeployment("api", appImage, peer, "serve", "--listen", addr),
		nodeDeployment("web", appImage, "web", "call", "--addr", addr),
	} {
		if err := d.env.Client.Create(ctx, dep); err != nil {
			return fmt.Errorf("demo: creating Deployment %s: %w", dep.Name, err)
		}
	}
	return d.showNodePods(ctx, node)
}

// nodeDeployment is one replica of the demo app on the node as a peer of workload payments,
// its Egg from the Secret egg-<peer>.
func nodeDeployment(name, image, peerName string, args ...string) *appsv1.Deployment {
	one := int32(1)
	labels := map[string]string{"app": name, inject.LabelInject: "true"}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: nodeNamespace, Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: map[string]string{
					inject.AnnotationWorkload: workload, inject.AnnotationPeer: peerName,
					inject.AnnotationEgg: "secret:egg-" + peerName + "/egg"}},
				Spec: testenv.NodePodSpec(corev1.Container{Name: "app", Image: image, Args: args}),
			},
		},
	}
}

// showNodePods waits for what a user would check with kubectl: seal-init completed in each
// pod, the caller's calls succeed and the server authorized it; then prints the logs.
func (d *story) showNodePods(ctx context.Context, node *testenv.Node) error {
	api, err := d.runningPod(ctx, "api")
	if err != nil {
		return err
	}
	web, err := d.runningPod(ctx, "web")
	if err != nil {
		return err
	}
	apiID := "spiffe://" + TrustDomain + "/workload/" + workload + "/peer/" + peer
	webID := "spiffe://" + TrustDomain + "/workload/" + workload + "/peer/web"
	waits := []struct {
		pod, container, re string
	}{
		{api.Name, inject.InitContainerName, `msg="wrote identity" .*spiffeID=` + regexp.QuoteMeta(apiID)},
		{web.Name, inject.InitContainerName, `msg="wrote identity" .*spiffeID=` + regexp.QuoteMeta(webID)},
		{api.Name, "app", `msg="serving mTLS" .*id=` + regexp.QuoteMeta(apiID)},
		{web.Name, "app", `msg="mTLS call succeeded" server=` + regexp.QuoteMeta(apiID)},
		{api.Name, "app", `msg="authorized peer" peer=` + regexp.QuoteMeta(webID)},
	}
	for _, w := range waits {
		if _, err := node.WaitLog(ctx, nodeNamespace, w.pod, w.container, regexp.MustCompile(w.re), 2*time.Minute); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}
	for _, p := range []*corev1.Pod{&api, &web} {
		for _, s := range p.Status.InitContainerStatuses {
			if t := s.State.Terminated; t != nil {
				d.n.Say("%s: init container %s exited %d (%s); app container running", p.Name, s.Name, t.ExitCode, t.Reason)
			}
		}
	}
	for _, l := range []struct{ pod, container, match string }{
		{api.Name, inject.InitContainerName, "wrote identity"},
		{api.Name, "app", "authorized peer"},
		{web.Name, "app", "mTLS call succeeded"},
	} {
		d.n.Say("$ kubectl -n %s logs %s -c %s   (read from the kubelet's pod logs)", nodeNamespace, l.pod, l.container)
		d.n.Say("%s", firstLines(node.Logs(nodeNamespace, l.pod, l.container), l.match, 2))
	}
	d.n.Done("on a real kubelet, the injected seal-init init container redeemed the Egg and two pods of the demo app completed mTLS")
	return nil
}

// runningPod waits until the pod of Deployment app runs (its seal-init init container has
// completed by then).
func (d *story) runningPod(ctx context.Context, app string) (corev1.Pod, error) {
	var pod corev1.Pod
	err := waitFor(ctx, 3*time.Minute, func() error {
		var pods corev1.PodList
		if err := d.env.Client.List(ctx, &pods, client.InNamespace(nodeNamespace), client.MatchingLabels{"app": app}); err != nil {
			return err
		}
		sort.Slice(pods.Items, func(i, j int) bool { return pods.Items[i].Name < pods.Items[j].Name })
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodRunning {
				pod = p
				return nil
			}
		}
		return fmt.Errorf("demo: no running pod of Deployment %s after 3 minutes: %s", app, testenv.PodStatusSummary(pods.Items))
	})
	return pod, err
}

// firstLines returns up to n lines of log containing match, indented, or the log's first
// lines when none does.
func firstLines(log, match string, n int) string {
	var out []string
	lines := strings.Split(strings.TrimSpace(log), "\n")
	for _, l := range lines {
		if strings.Contains(l, match) && len(out) < n {
			out = append(out, "  "+l)
		}
	}
	if len(out) == 0 {
		for _, l := range lines[:min(n, len(lines))] {
			out = append(out, "  "+l)
		}
	}
	return strings.Join(out, "\n")
}
