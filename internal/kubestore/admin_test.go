package kubestore_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seal-dev/seal/internal/ca"
	"github.com/seal-dev/seal/internal/kubestore"
	"github.com/seal-dev/seal/internal/rot"
	"github.com/seal-dev/seal/internal/rot/rottest"
	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/testing/testenv"
)

// testAdminAllowList is seal-rot admin-cert --kube beside a running ROT on the same namespace:
// state without an allow-list keeps its admin, the first change lists the Secret's certificate,
// --revoke-all-but-new locks the old one out once the ROT has reloaded.
func testAdminAllowList(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	ns := env.Namespace(t, nil)
	r := rottest.Start(t, rottest.WithStore(newStore(t, env, ns)), rottest.WithTrustDomain(td))
	cli := newStore(t, env, ns) // what seal-rot admin-cert --kube opens
	read := func(f string) []byte {
		b, err := os.ReadFile(filepath.Join(r.AdminDir, f))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if err := cli.ReplaceAdmin(ctx, read(rot.AdminCertFile), read(rot.AdminKeyFile), read(rot.AdminCAFile)); err != nil {
		t.Fatal(err)
	}
	// Make the state look like one written before the allow-list existed.
	st, err := cli.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a := *st.Authority
	a.Admins = nil
	if err := cli.PutAuthority(ctx, &a); err != nil {
		t.Fatal(err)
	}
	admin := func(c *rotapi.Client) error { return c.Do(ctx, http.MethodGet, rotapi.PathWorkloads, nil, nil) }
	if err := admin(r.Admin); err != nil {
		t.Fatalf("first-start admin on state without an allow-list: %v", err)
	}

	replace := func(ctx context.Context, c rot.AdminCredentials) error {
		return cli.ReplaceAdmin(ctx, c.Cert, c.Key, c.CA)
	}
	legacy, err := cli.AdminCertPEM(ctx)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := ca.ParseCerts(legacy)
	res, err := rot.ChangeAdmins(ctx, cli, nil, rot.AdminChange{Legacy: legacy}, replace)
	if err != nil {
		t.Fatal(err)
	}
	if res.Seeded != rot.SerialHex(first[0]) || len(res.Admins) != 2 {
		t.Errorf("first admin-cert --kube: seeded %q, list %+v; want the Secret's certificate listed", res.Seeded, res.Admins)
	}
	res, err = rot.ChangeAdmins(ctx, cli, nil, rot.AdminChange{RevokeAllButNew: true}, replace)
	if err != nil {
		t.Fatal(err)
	}
	var sec corev1.Secret
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: kubestore.AdminSecret}, &sec); err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(sec.Data["tls.crt"], sec.Data["tls.key"])
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := rotapi.NewClient(r.URL, sec.Data["ca.crt"], &cert)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.HTTP.CloseIdleConnections()
	deadline := time.Now().Add(30 * time.Second)
	for admin(r.Admin) == nil {
		if time.Now().After(deadline) {
			t.Fatal("the running ROT still accepts the revoked admin certificate 30s after admin-cert --revoke-all-but-new")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := admin(fresh); err != nil {
		t.Errorf("the new admin credentials from Secret %s: %v", kubestore.AdminSecret, err)
	}
	if leaf, _ := ca.ParseCerts(sec.Data["tls.crt"]); len(res.Admins) != 1 || res.Admins[0].Serial != rot.SerialHex(leaf[0]) {
		t.Errorf("allow-list %+v, want only the Secret's new certificate", res.Admins)
	}
}
