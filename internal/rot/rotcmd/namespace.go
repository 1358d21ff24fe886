package rotcmd

import (
	"os"
	"strings"
)

// serviceAccountNamespace is where the kubelet writes the pod's namespace.
const serviceAccountNamespace = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// defaultNamespace is --namespace's default: the pod's own namespace when seal-rot runs in a
// cluster (its service account's namespace file, or POD_NAMESPACE), else seal-system. So
// `kubectl exec deploy/seal-rot -- seal-rot admin-cert --kube` acts on the state of the ROT it
// runs beside, wherever that ROT was installed.
func defaultNamespace(readFile func(string) ([]byte, error), getenv func(string) string) string {
	if b, err := readFile(serviceAccountNamespace); err == nil {
		if ns := strings.TrimSpace(string(b)); ns != "" {
			return ns
		}
	}
	if ns := getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	return "seal-system"
}

func namespaceDefault() string { return defaultNamespace(os.ReadFile, os.Getenv) }
