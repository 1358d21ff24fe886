package enroll

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/seal-dev/seal/internal/rotapi"
)

// DefaultTokenFile is where seal-webhook mounts the pod's projected ServiceAccount token (for
// seal-init only); seal-init sends it when the file exists and --token-file is not given.
const DefaultTokenFile = "/var/run/secrets/seal.dev/token"

// maxTokenBytes bounds the token file (kube-apiserver's tokens are about 1 KiB).
const maxTokenBytes = 8 << 10

// readToken reads the ServiceAccount token from path, afresh at each redemption: the kubelet
// rotates it (at 80% of its 600s), so a renewing sidecar always sends a valid one.
func readToken(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("enroll: reading the ServiceAccount token: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxTokenBytes+1))
	if err != nil {
		return "", fmt.Errorf("enroll: reading the ServiceAccount token %s: %w", path, err)
	}
	if len(b) > maxTokenBytes {
		return "", fmt.Errorf("enroll: the ServiceAccount token %s is over %d bytes", path, maxTokenBytes)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("enroll: the ServiceAccount token %s is empty", path)
	}
	return t, nil
}

// tokenFile is the token file seal-init sends: --token-file when given, else the default
// path when it exists (an injected pod), else none.
func tokenFile(o *options) string {
	if o.tokenFile != "" {
		return o.tokenFile
	}
	if _, err := os.Stat(DefaultTokenFile); err == nil {
		return DefaultTokenFile
	}
	return ""
}

// tokenFailure explains a refusal of the pod binding (the ROT's podtoken checks): which
// binding the pod's cluster, namespace and service account failed, and how to fix it.
func tokenFailure(rot string, err error) *Failure {
	var se *rotapi.StatusError
	if !errors.As(err, &se) || !strings.Contains(se.Message, "podtoken:") {
		return nil
	}
	msg := se.Message
	if i := strings.Index(msg, "podtoken: "); i >= 0 {
		msg = msg[i+len("podtoken: "):]
	}
	if i := strings.Index(msg, "; fix:"); i >= 0 {
		msg = msg[:i] // the check below says what to do
	}
	if se.Code == http.StatusUnauthorized {
		return &Failure{Err: err,
			What:  fmt.Sprintf("the ROT at %s wants this pod's ServiceAccount token (%d: %s)", rot, se.Code, msg),
			Check: "inject the pod with seal-webhook (it mounts the token at " + DefaultTokenFile + "), or pass --token-file"}
	}
	return &Failure{Err: err,
		What:  fmt.Sprintf("the ROT at %s refused this pod's ServiceAccount token (%d: %s)", rot, se.Code, msg),
		Check: "run the pod in a namespace and service account the workload is bound to (sealctl workload get WORKLOAD lists the bindings; sealctl workload bind adds one)"}
}
