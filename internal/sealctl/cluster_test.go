package sealctl

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/seal-dev/seal/internal/podtoken/podtokentest"
	"github.com/seal-dev/seal/internal/rot/rottest"
	"github.com/seal-dev/seal/internal/rotapi"
)

// TestClusterAndBinding walks the pod binding commands against a real ROT: add a cluster from
// a JWKS file, create a bound workload, see the Egg alone refused and the Egg with the pod's
// token accepted, bind and unbind, and cluster delete refused while bound.
func TestClusterAndBinding(t *testing.T) {
	r := rottest.Start(t)
	env := envFor(r)
	iss := podtokentest.New(t, "https://kubernetes.default.svc.cluster.local", jose.RS256)
	jwks := filepath.Join(t.TempDir(), "prod.jwks")
	if err := os.WriteFile(jwks, []byte(iss.JWKS(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	out := ok(t, env, "", "cluster", "add", "prod", "--issuer", iss.URL, "--jwks", jwks).stdout
	for _, want := range []string{"Issuer:", iss.URL, "Audience:", "seal-rot", "Signing keys:", "1"} {
		if !strings.Contains(out, want) {
			t.Errorf("cluster add shows %q, want %q in it", out, want)
		}
	}
	ok(t, env, "", "workload", "create", "payments", "--bind", "prod/payments/api")
	eggText := strings.TrimSpace(ok(t, env, "", "egg", "mint", "payments").stdout)

	if _, err := redeem(t, r, eggText); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("the Egg alone of a bound workload: %v, want 401", err)
	}
	c := r.Client(t, nil)
	req := &rotapi.RedeemRequest{Egg: eggText, CSR: csrPEM(t), Token: iss.Token(t, time.Now(), "payments", "api", "api-0")}
	if _, err := c.Redeem(t.Context(), req); err != nil {
		t.Errorf("Egg + token of the bound pod: %v", err)
	}

	out = ok(t, env, "", "workload", "bind", "payments", "prod/batch/*").stdout
	if !strings.Contains(out, "prod/payments/api,prod/batch/*") {
		t.Errorf("workload bind shows %q, want both bindings", out)
	}
	out = ok(t, env, "", "cluster", "list").stdout
	if !strings.Contains(out, "BOUND BY") || !strings.Contains(out, "payments") || !strings.Contains(out, "inline") {
		t.Errorf("cluster list = %q", out)
	}
	refused(t, env, "bound by workload(s) [payments]", "cluster", "delete", "prod")
	refused(t, env, `cluster "nope" is not known`, "workload", "bind", "payments", "nope/a/b")
	ok(t, env, "", "workload", "unbind", "payments", "prod/payments/api")
	ok(t, env, "", "workload", "unbind", "payments", "prod/batch/*")
	if _, err := redeem(t, r, eggText); err != nil {
		t.Errorf("after unbinding all, the Egg alone: %v", err)
	}
	var got rotapi.Cluster
	if err := json.Unmarshal([]byte(ok(t, env, "", "cluster", "get", "prod", "-o", "json").stdout), &got); err != nil || got.Keys != 1 || len(got.BoundBy) != 0 {
		t.Errorf("cluster get -o json = %+v, %v", got, err)
	}
	ok(t, env, "", "cluster", "delete", "prod")

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"cluster", "add", "x", "--jwks", jwks}, "--issuer is required"},
		{[]string{"cluster", "add", "x", "--issuer", "https://x"}, "exactly one of --jwks"},
		{[]string{"cluster", "add", "x", "--issuer", "https://x", "--jwks", jwks, "--jwks-url", "https://x/jwks"}, "exactly one of --jwks"},
		{[]string{"cluster", "add", "x", "--issuer", "https://x", "--jwks-url", "http://x/jwks"}, "must be an https URL"},
		{[]string{"cluster", "add", "x", "--issuer", "https://x", "--jwks", jwks, "--jwks-ca", jwks}, "--jwks-ca is only for --jwks-url"},
		{[]string{"workload", "create", "w", "--bind", "prod/payments"}, "CLUSTER/NAMESPACE/SERVICEACCOUNT"},
		{[]string{"workload", "bind", "w"}, "needs CLUSTER/NAMESPACE/SERVICEACCOUNT"},
	} {
		res := run(t, env, "", tc.args...)
		if res.code != ExitUsage || !strings.Contains(res.stderr, tc.want) {
			t.Errorf("sealctl %s: exit %d %q, want usage error with %q", strings.Join(tc.args, " "), res.code, res.stderr, tc.want)
		}
	}
}

func csrPEM(t *testing.T) string {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr}))
}
