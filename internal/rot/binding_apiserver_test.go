package rot_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/seal-dev/seal/internal/rot/rottest"
	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/testing/testenv"
)

// TestBindingWithRealAPIServer takes the JWKS and the tokens from a real kube-apiserver: its
// /openid/v1/jwks and its TokenRequest API (what kubectl create token and the kubelet's
// projected volumes use). The ROT accepts a token of the bound namespace and service account
// (plain and bound to a pod, whose name and uid reach the audit line) and refuses the others.
func TestBindingWithRealAPIServer(t *testing.T) {
	env := testenv.Start(t, testenv.Options{NoControllerManager: true})
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	c := context.Background()
	raw := func(path string) []byte {
		b, err := cs.RESTClient().Get().AbsPath(path).DoRaw(c)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		return b
	}
	var disco struct {
		Issuer string `json:"issuer"`
	}
	if err := json.Unmarshal(raw("/.well-known/openid-configuration"), &disco); err != nil || disco.Issuer == "" {
		t.Fatalf("openid-configuration: %+v, %v", disco, err)
	}
	jwks := raw("/openid/v1/jwks") // kubectl get --raw /openid/v1/jwks

	ns, other := env.Namespace(t, nil), env.Namespace(t, nil)
	for _, n := range []string{ns, other} {
		for _, sa := range []string{"api", "default"} {
			if _, err := cs.CoreV1().ServiceAccounts(n).Create(c, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	pod, err := cs.CoreV1().Pods(ns).Create(c, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "api-0"},
		Spec: corev1.PodSpec{ServiceAccountName: "api", Containers: []corev1.Container{{Name: "app", Image: "registry.invalid/app"}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	token := func(n, sa, aud, podName string) string {
		t.Helper()
		tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{Audiences: []string{aud}, ExpirationSeconds: ptr(int64(600))}}
		if podName != "" {
			tr.Spec.BoundObjectRef = &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: podName, UID: pod.UID}
		}
		out, err := cs.CoreV1().ServiceAccounts(n).CreateToken(c, sa, tr, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("TokenRequest %s/%s: %v", n, sa, err)
		}
		return out.Status.Token
	}

	var logs testenv.LogBuffer
	r := rottest.Start(t, rottest.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
	if err := r.Admin.Do(ctx(t), http.MethodPut, rotapi.Path(rotapi.PathCluster, "test"), rotapi.Cluster{Issuer: disco.Issuer, JWKS: string(jwks)}, nil); err != nil {
		t.Fatal(err)
	}
	r.CreateWorkload(t, rotapi.Workload{Name: "payments", Bindings: []rotapi.Binding{{Cluster: "test", Namespace: ns, ServiceAccount: "api"}}})
	eggText := r.MintEgg(t, "payments", rotapi.MintRequest{})
	csr := csrFor(t, p256(t), nil)
	client := r.Client(t, nil)

	for _, tt := range []struct {
		name     string
		token    string
		wantCode int
		wantErr  string
	}{
		{"kubectl create token api --audience seal-rot", token(ns, "api", "seal-rot", ""), 200, ""},
		{"pod-bound token", token(ns, "api", "seal-rot", "api-0"), 200, ""},
		{"the API server's own audience", token(ns, "api", "https://kubernetes.default.svc", ""), 403, "wrong audience"},
		{"another service account", token(ns, "default", "seal-rot", ""), 403, "namespace or service account not bound"},
		{"another namespace", token(other, "api", "seal-rot", ""), 403, "namespace or service account not bound"},
		{"no token", "", 401, "no ServiceAccount token"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body, _ := json.Marshal(rotapi.RedeemRequest{Egg: eggText, CSR: csr, Token: tt.token})
			code, msg := post(t, client, rotapi.PathRedeem, body)
			if code != tt.wantCode || !strings.Contains(msg, tt.wantErr) {
				t.Errorf("got %d %q, want %d with %q", code, msg, tt.wantCode, tt.wantErr)
			}
		})
	}
	if l := logs.String(); !strings.Contains(l, `"pod":"api-0"`) || !strings.Contains(l, `"podUID":"`+string(pod.UID)+`"`) {
		t.Errorf("no audit line names pod api-0 and its uid %s:\n%s", pod.UID, l)
	}
}

func ptr[T any](v T) *T { return &v }
