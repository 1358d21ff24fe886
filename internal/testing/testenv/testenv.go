package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"
)

// DefaultVersion is the Kubernetes release the test binaries are built from.
const DefaultVersion = "v1.36.3"

// Env is a running control plane.
type Env struct {
	// Config talks to the API server as a cluster admin.
	Config *rest.Config
	// Client is a controller-runtime client with the core and seal.dev types.
	Client client.Client
	// Scheme holds the core and seal.dev types.
	Scheme *runtime.Scheme
	// Kubeconfig is the path of an admin kubeconfig file (for processes and kubectl).
	Kubeconfig string
	// Dir is a temporary directory removed when the test ends.
	Dir string
	// SigningCA is the PEM cluster signing CA with Options.CSRSigning (nil otherwise): it
	// signs approved kubernetes.io/kube-apiserver-client CSRs and the API server trusts it.
	SigningCA []byte
	// NodeContainerdConfig, when set, rewrites the TOML config of a node's containerd (in
	// nodeDir) before it starts: a test's stream processors or registry mirrors.
	NodeContainerdConfig func(nodeDir, config string) string

	env     *envtest.Environment
	signing *signingCA
	kcmLog  string
	stopKCM func()
	apiArgs []string       // kube-apiserver's command line once StopAPIServer ran (apiserver.go)
	apiProc *apiServerProc // the kube-apiserver StartAPIServer restarted
}

// Options tune Start.
type Options struct {
	// NoCRDs skips installing Seal's CRDs.
	NoCRDs bool
	// ExtraCRDDirs are more directories of CRD YAML to install (e.g. a Route CRD).
	ExtraCRDDirs []string
	// NoControllerManager skips kube-controller-manager.
	NoControllerManager bool
	// Dir holds kubeconfigs and logs (Start: the test's temp dir; Launch: a new temp dir).
	Dir string
	// CSRSigning gives the cluster a signing CA, as kubeadm does: the API server trusts it
	// for client certificates and kube-controller-manager runs the csrsigning and
	// csrapproving controllers with it (--cluster-signing-cert-file/-key-file).
	CSRSigning bool
}

// ToolsDir is where the control-plane binaries are: $SEAL_K8S_TOOLS, or the default cache.
func ToolsDir() string {
	if d := os.Getenv("SEAL_K8S_TOOLS"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "seal", "k8s", DefaultVersion)
}

// RepoRoot is the directory holding the module's go.mod.
func RepoRoot() string {
	_, file, _, _ := goruntime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// Start runs a control plane for t and stops it, and every process it started, when t ends.
func Start(t testing.TB, opts ...Options) *Env {
	t.Helper()
	if testing.Short() {
		t.Skip("testenv: needs the real control plane; run without -short (make test)")
	}
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	o.Dir = t.TempDir()
	e, err := Launch(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() && e.kcmLog != "" {
			if b, err := os.ReadFile(e.kcmLog); err == nil {
				t.Logf("kube-controller-manager log (tail):\n%s", tail(b, 4000))
			}
		}
		if err := e.Stop(); err != nil {
			t.Logf("testenv: %v", err)
		}
	})
	return e
}

// Launch starts a control plane outside a test (make demo); Stop ends it. Tests use Start.
func Launch(o Options) (*Env, error) {
	tools := ToolsDir()
	for _, b := range []string{"etcd", "kube-apiserver", "kube-controller-manager"} {
		if _, err := os.Stat(filepath.Join(tools, b)); err != nil {
			return nil, fmt.Errorf("testenv: %s not found in %s: run `make k8s-tools` (it builds the control plane from the Go module proxy)", b, tools)
		}
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := sealv1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if o.Dir == "" {
		d, err := os.MkdirTemp("", "seal-env-")
		if err != nil {
			return nil, fmt.Errorf("testenv: %w", err)
		}
		o.Dir = d
	} else if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("testenv: %w", err)
	}
	e := &Env{Scheme: scheme, Dir: o.Dir}
	e.env = &envtest.Environment{
		BinaryAssetsDirectory:    tools,
		Scheme:                   scheme,
		ErrorIfCRDPathMissing:    true,
		ControlPlaneStartTimeout: 60 * time.Second,
		ControlPlaneStopTimeout:  30 * time.Second,
	}
	if o.CSRSigning {
		ca, err := newSigningCA(o.Dir)
		if err != nil {
			return nil, err
		}
		e.signing, e.SigningCA = ca, ca.certPEM
		e.env.ControlPlane.APIServer = &envtest.APIServer{SecureServing: envtest.SecureServing{Authn: ca}}
	}
	if !o.NoCRDs {
		e.env.CRDDirectoryPaths = append(e.env.CRDDirectoryPaths, filepath.Join(RepoRoot(), "charts", "seal", "files", "crds"))
	}
	e.env.CRDDirectoryPaths = append(e.env.CRDDirectoryPaths, o.ExtraCRDDirs...)
	cfg, err := e.env.Start()
	if err != nil {
		_ = e.env.Stop()
		return nil, fmt.Errorf("testenv: starting etcd and kube-apiserver: %w", err)
	}
	e.Config = cfg
	fail := func(err error) (*Env, error) {
		_ = e.Stop()
		return nil, err
	}
	if e.Client, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		return fail(fmt.Errorf("testenv: client: %w", err))
	}
	if e.Kubeconfig, err = e.writeKubeconfig("admin", []string{"system:masters"}); err != nil {
		return fail(err)
	}
	if !o.NoControllerManager {
		if err := e.startControllerManager(); err != nil {
			return fail(err)
		}
	}
	return e, nil
}

// Stop ends kube-controller-manager, kube-apiserver and etcd. It is safe to call twice.
func (e *Env) Stop() error {
	if e.stopKCM != nil {
		e.stopKCM()
		e.stopKCM = nil
	}
	e.stopAPIServerProc()
	if e.env == nil {
		return nil
	}
	err := e.env.Stop()
	e.env = nil
	if err != nil {
		return fmt.Errorf("testenv: stopping control plane: %w", err)
	}
	return nil
}

// writeKubeconfig writes a kubeconfig for a user in groups and returns its path.
func (e *Env) writeKubeconfig(name string, groups []string) (string, error) {
	u, err := e.env.AddUser(envtest.User{Name: name, Groups: groups}, nil)
	if err != nil {
		return "", fmt.Errorf("testenv: adding user %s: %w", name, err)
	}
	kc, err := u.KubeConfig()
	if err != nil {
		return "", fmt.Errorf("testenv: kubeconfig for %s: %w", name, err)
	}
	p := filepath.Join(e.Dir, name+".kubeconfig")
	if err := os.WriteFile(p, kc, 0o600); err != nil {
		return "", fmt.Errorf("testenv: %w", err)
	}
	return p, nil
}

// startControllerManager runs kube-controller-manager with the controllers that turn a
// Deployment into pods and collect orphans (and, with CSRSigning, sign and approve CSRs).
func (e *Env) startControllerManager() error {
	kc, err := e.writeKubeconfig("system:kube-controller-manager", []string{"system:masters"})
	if err != nil {
		return err
	}
	e.kcmLog = filepath.Join(e.Dir, "kube-controller-manager.log")
	logf, err := os.Create(e.kcmLog)
	if err != nil {
		return fmt.Errorf("testenv: %w", err)
	}
	args := []string{
		"--kubeconfig=" + kc,
		"--authentication-kubeconfig=" + kc,
		"--authorization-kubeconfig=" + kc,
		"--controllers=replicaset,deployment,garbagecollector",
		"--leader-elect=false",
		"--secure-port=0",
		"--concurrent-deployment-syncs=2",
		"--concurrent-replicaset-syncs=2",
		"-v=1",
	}
	if e.signing != nil {
		args[3] = "--controllers=replicaset,deployment,garbagecollector,csrsigning,csrapproving"
		args = append(args, "--cluster-signing-cert-file="+e.signing.certFile, "--cluster-signing-key-file="+e.signing.keyFile)
	}
	cmd := exec.Command(filepath.Join(ToolsDir(), "kube-controller-manager"), args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return fmt.Errorf("testenv: starting kube-controller-manager: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	e.stopKCM = func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		_ = logf.Close()
	}
	select {
	case err := <-done:
		b, _ := os.ReadFile(e.kcmLog)
		e.stopKCM = func() { _ = logf.Close() }
		return fmt.Errorf("testenv: kube-controller-manager exited at once (%v):\n%s", err, tail(b, 4000))
	case <-time.After(200 * time.Millisecond):
	}
	return nil
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// Namespace creates a namespace with a generated name and the given labels.
func (e *Env) Namespace(t testing.TB, labels map[string]string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "seal-test-", Labels: labels}}
	if err := e.Client.Create(context.Background(), ns); err != nil {
		t.Fatalf("testenv: creating namespace: %v", err)
	}
	return ns.Name
}

// Eventually polls cond every 100ms until it returns nil or timeout passes, then fails t with
// cond's last error.
func Eventually(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: condition not met after %s: %v", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// StartCache starts an informer cache of the API server for objs' kinds (as seal-webhook's
// manager has), after setup (indexes, say) when not nil, and waits until it has synced. It
// stops with the test.
func (e *Env) StartCache(t testing.TB, setup func(context.Context, cache.Cache) error, objs ...client.Object) cache.Cache {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c, err := cache.New(e.Config, cache.Options{Scheme: e.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		if err := setup(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range objs {
		if _, err := c.GetInformer(ctx, o); err != nil {
			t.Fatalf("testenv: informer for %T: %v", o, err)
		}
	}
	go func() { _ = c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		t.Fatal("testenv: the cache did not sync")
	}
	return c
}
