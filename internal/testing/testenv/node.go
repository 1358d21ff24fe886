package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// NodeName is the name the test node registers as. Pods meant for it set spec.nodeName to it
// (there is no scheduler) and hostNetwork: true (there is no CNI plugin).
const NodeName = "node1"

// PauseImage is the sandbox image containerd is configured with; StartNode imports it from
// the tarball `make node-tools` builds.
const PauseImage = "registry.k8s.io/pause:3.6"

// Node is a real kubelet with a private containerd, registered with an Env's API server.
type Node struct {
	// Name is the node's name (NodeName).
	Name string
	// Dir holds everything of the node: containerd's root and state, the kubelet's root dir,
	// pod logs and the logs of both daemons. It is removed when the test ends.
	Dir string
	// ContainerdAddress is the path of containerd's socket.
	ContainerdAddress string
	// RootDir is the kubelet's --root-dir.
	RootDir string
	// PodLogsDir is the kubelet's podLogsDir (<ns>_<pod>_<uid>/<container>/<restarts>.log).
	PodLogsDir string

	env     *Env
	procs   *nodeProcs
	lock    *os.File
	stopped bool
}

// NodeToolsDir is where `make node-tools` caches the pause image: $SEAL_NODE_TOOLS or
// ~/.cache/seal/node.
func NodeToolsDir() string {
	if d := os.Getenv("SEAL_NODE_TOOLS"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "seal", "node")
}

// NodeRequirements says why a real node cannot run here, or returns nil when it can: root,
// containerd, ctr and runc on PATH, the kubelet in ToolsDir and the pause image tarball in
// NodeToolsDir.
func NodeRequirements() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("testenv: the real node needs root (containerd and the kubelet mount, and create cgroups)")
	}
	for _, b := range []string{"containerd", "ctr", "runc"} {
		if _, err := exec.LookPath(b); err != nil {
			return fmt.Errorf("testenv: %s not on PATH: run `make node-tools` (it installs containerd and runc)", b)
		}
	}
	if _, err := os.Stat(filepath.Join(ToolsDir(), "kubelet")); err != nil {
		return fmt.Errorf("testenv: kubelet not found in %s: run `make k8s-tools`", ToolsDir())
	}
	if _, err := os.Stat(filepath.Join(NodeToolsDir(), "pause.tar")); err != nil {
		return fmt.Errorf("testenv: pause image not found in %s: run `make node-tools`", NodeToolsDir())
	}
	return nil
}

// StartNode runs a private containerd and a kubelet registered as NodeName with e's API
// server, and waits until the Node is Ready. When t ends it stops both, kills every
// container they started and unmounts everything under the node's directory, even when t
// failed. Without root it skips t (it fails t when SEAL_REQUIRE_NODE is set, as .ci/run
// does); with root but missing tools it fails t naming the make target that provides them.
func (e *Env) StartNode(t testing.TB) *Node {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("SEAL_REQUIRE_NODE") != "" {
			t.Fatal("testenv: SEAL_REQUIRE_NODE is set but the real node needs root (containerd and the kubelet)")
		}
		t.Skip("testenv: the real node needs root (containerd and the kubelet); run the tests as root")
	}
	n, err := e.LaunchNode(context.Background(), func(msg string) { t.Log(msg) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("kubelet log (tail):\n%s\ncontainerd log (tail):\n%s", n.procs.kubelet.tail(6000), n.procs.containerd.tail(4000))
		}
		if err := n.Stop(); err != nil {
			t.Error(err)
		}
	})
	return n
}

// LaunchNode is StartNode outside a test (the demo): the caller must call Stop. logf, when
// set, gets a line for every stale node directory it removes.
func (e *Env) LaunchNode(ctx context.Context, logf func(string)) (*Node, error) {
	if err := NodeRequirements(); err != nil {
		return nil, err
	}
	for _, d := range sweepStaleNodes() {
		if logf != nil {
			logf(d)
		}
	}
	// Unix socket paths are limited to 108 bytes: keep the node's directory short.
	dir, err := os.MkdirTemp("", nodeDirPattern)
	if err != nil {
		return nil, fmt.Errorf("testenv: %w", err)
	}
	lock, err := lockNodeDir(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("testenv: locking %s: %w", dir, err)
	}
	n := &Node{
		Name:              NodeName,
		Dir:               dir,
		ContainerdAddress: filepath.Join(dir, "containerd.sock"),
		RootDir:           filepath.Join(dir, "kubelet"),
		PodLogsDir:        filepath.Join(dir, "pod-logs"),
		env:               e,
		lock:              lock,
	}
	n.procs = &nodeProcs{node: n}
	fail := func(err error) (*Node, error) {
		if serr := n.Stop(); serr != nil {
			err = fmt.Errorf("%w (and stopping: %v)", err, serr)
		}
		return nil, err
	}
	if err := n.procs.startContainerd(); err != nil {
		return fail(err)
	}
	if err := n.Import(ctx, filepath.Join(NodeToolsDir(), "pause.tar")); err != nil {
		return fail(err)
	}
	if err := n.procs.startKubelet(); err != nil {
		return fail(err)
	}
	if err := n.waitReady(ctx, 3*time.Minute); err != nil {
		return fail(fmt.Errorf("%w\nkubelet log (tail):\n%s", err, n.procs.kubelet.tail(4000)))
	}
	return n, nil
}

// Stop tears the node down: the kubelet, every container, containerd, any shim left behind,
// every mount under Dir (lazily), then Dir itself. It is safe to call more than once.
func (n *Node) Stop() error {
	if n.stopped {
		return nil
	}
	n.stopped = true
	err := n.procs.stop()
	n.lock.Close()
	return err
}

func (n *Node) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		err := n.ready(ctx)
		if err == nil {
			return nil
		}
		if done, werr := n.procs.kubelet.exited(); done {
			return fmt.Errorf("testenv: the kubelet exited (%v) before node %s was ready: %v", werr, n.Name, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("testenv: node %s not Ready after %s: %v", n.Name, timeout, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (n *Node) ready(ctx context.Context) error {
	var node corev1.Node
	if err := n.env.Client.Get(ctx, client.ObjectKey{Name: n.Name}, &node); err != nil {
		return fmt.Errorf("node %s: %w", n.Name, err)
	}
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			if c.Status == corev1.ConditionTrue {
				return nil
			}
			return fmt.Errorf("node %s not ready: %s: %s", n.Name, c.Reason, c.Message)
		}
	}
	return fmt.Errorf("node %s has no Ready condition yet", n.Name)
}

// ctr runs the ctr CLI against the node's containerd in the k8s.io namespace (the one the
// kubelet's CRI uses).
func (n *Node) ctr(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "ctr", append([]string{"--address", n.ContainerdAddress, "--namespace", "k8s.io"}, args...)...)
	return cmd.CombinedOutput()
}

// ImportImage imports a docker or OCI image tarball into the node's containerd, under the
// tags the tarball carries, failing t when it cannot. Pods use it with imagePullPolicy
// IfNotPresent (or Never) and a tag other than latest.
func (n *Node) ImportImage(t testing.TB, tarball string) {
	t.Helper()
	if err := n.Import(context.Background(), tarball); err != nil {
		t.Fatal(err)
	}
}

// Import is ImportImage returning its error.
func (n *Node) Import(ctx context.Context, tarball string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if out, err := n.ctr(ctx, "images", "import", "--all-platforms", tarball); err != nil {
		return fmt.Errorf("testenv: importing %s into the node: %v\n%s", tarball, err, out)
	}
	return nil
}

// PodLogs returns what the container wrote, across all its restarts (oldest first), as the
// kubelet saved it under PodLogsDir, without the CRI timestamp and stream prefixes. It is ""
// when the container has not logged yet. (`kubectl logs` cannot reach a loopback node.)
func (n *Node) PodLogs(t testing.TB, namespace, pod, container string) string {
	return n.Logs(namespace, pod, container)
}

// Logs is PodLogs outside a test.
func (n *Node) Logs(namespace, pod, container string) string {
	dirs, _ := filepath.Glob(filepath.Join(n.PodLogsDir, namespace+"_"+pod+"_*", container))
	var b strings.Builder
	for _, d := range dirs {
		files, _ := filepath.Glob(filepath.Join(d, "*.log"))
		sort.Slice(files, func(i, j int) bool { return restartOf(files[i]) < restartOf(files[j]) })
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			b.WriteString(criLogText(string(data)))
		}
	}
	return b.String()
}

func restartOf(file string) int {
	i, _ := strconv.Atoi(strings.TrimSuffix(filepath.Base(file), ".log"))
	return i
}

// criLogText turns CRI log lines ("<time> <stream> <P|F> <text>") into the text, joining
// partial lines.
func criLogText(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		f := strings.SplitN(line, " ", 4)
		if len(f) < 3 {
			continue
		}
		text := ""
		if len(f) == 4 {
			text = f[3]
		}
		b.WriteString(text)
		if f[2] != "P" {
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// NodePod is a pod for the test node: nodeName NodeName (no scheduler), hostNetwork (no CNI),
// no service-account token (no token controller), a short grace period, and images used as
// imported (imagePullPolicy IfNotPresent).
func NodePod(namespace, name string, containers ...corev1.Container) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	p.Spec = NodePodSpec(containers...)
	return p
}

// NodePodSpec is the spec NodePod uses, for Deployments' pod templates.
func NodePodSpec(containers ...corev1.Container) corev1.PodSpec {
	grace := int64(2)
	automount := false
	for i := range containers {
		if containers[i].ImagePullPolicy == "" {
			containers[i].ImagePullPolicy = corev1.PullIfNotPresent
		}
	}
	return corev1.PodSpec{
		NodeName:                      NodeName,
		HostNetwork:                   true,
		AutomountServiceAccountToken:  &automount,
		TerminationGracePeriodSeconds: &grace,
		Containers:                    containers,
	}
}
