package sealctl

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seal-dev/seal/internal/testing/testenv"
)

// TestKubectlPlugin installs the real sealctl binary the documented way (a link named
// kubectl-seal on $PATH) and runs it through the real kubectl: kubectl finds the plugin, passes
// the arguments, and the help reads "kubectl seal".
func TestKubectlPlugin(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl is not on $PATH")
	}
	bin := t.TempDir()
	if err := os.Symlink(testenv.Binary(t, "./cmd/sealctl"), filepath.Join(bin, PluginName)); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"), "KUBECONFIG=" + filepath.Join(bin, "none")}

	if r := proc(t, env, nil, kubectl, "plugin", "list"); !strings.Contains(r.stdout, filepath.Join(bin, PluginName)) {
		t.Errorf("kubectl plugin list does not list %s: %+v", PluginName, r)
	}
	r := proc(t, env, nil, kubectl, "seal", "check-inject", "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "kubectl seal check-inject [-n NAMESPACE] POD") {
		t.Errorf("kubectl seal check-inject --help: %+v", r)
	}
	pod := writeFile(t, "pod.yaml", podYAML("", "seal.dev/workload: pay"))
	r = proc(t, env, nil, kubectl, "seal", "check-inject", "-f", pod, "--namespace-labels", "seal.dev/inject=enabled")
	if r.code != 0 || !strings.Contains(r.stdout, "REASON    injected") || !strings.Contains(r.stdout, "inject-namespace.seal.dev") {
		t.Errorf("kubectl seal check-inject -f: %+v", r)
	}
}
