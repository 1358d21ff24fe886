package kubestore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seal-dev/seal/internal/kubestore"
	"github.com/seal-dev/seal/internal/store"
	"github.com/seal-dev/seal/internal/testing/testenv"
	sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"
)

// testRBAC runs seal-rot's store as a service account holding only the rules of
// docs/rot-kube.md (and the Helm chart).
func testRBAC(t *testing.T, env *testenv.Env) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns := env.Namespace(t, nil)
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "seal-rot", Namespace: ns}}
	all := []string{"get", "list", "watch", "create", "update", "patch", "delete"}
	subject := []rbacv1.Subject{{Kind: "ServiceAccount", Name: "seal-rot", Namespace: ns}}
	objs := []client.Object{
		sa,
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "seal-rot", Namespace: ns}, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: all}}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "seal-rot", Namespace: ns}, Subjects: subject,
			RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "seal-rot"}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: ns + "-seal-rot"}, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"seal.dev"}, Resources: []string{"workloads", "federatedtrustdomains", "workloadclusters", "attestationkeys", "attestationpolicies"}, Verbs: all},
			{APIGroups: []string{"seal.dev"}, Resources: []string{"workloads/status", "federatedtrustdomains/status", "workloadclusters/status", "attestationkeys/status", "attestationpolicies/status"}, Verbs: []string{"get", "update", "patch"}}}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: ns + "-seal-rot"}, Subjects: subject,
			RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: ns + "-seal-rot"}},
	}
	for _, o := range objs {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	tr := &authv1.TokenRequest{Spec: authv1.TokenRequestSpec{ExpirationSeconds: new(int64(3600))}}
	if err := env.Client.SubResource("token").Create(ctx, sa, tr); err != nil {
		t.Fatalf("token for the service account: %v", err)
	}
	cfg := rest.AnonymousClientConfig(env.Config)
	cfg.BearerToken = tr.Status.Token
	st, err := kubestore.New(cfg, ns, kubestore.Options{Resync: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Load(ctx); err != nil {
		t.Fatalf("Load as the service account: %v", err)
	}
	a, root := authority(t)
	rootPEM := []byte(a.CAs[0].Cert)
	if err := st.WriteAdmin(ctx, rootPEM, []byte(a.CAs[0].Key), rootPEM); err != nil {
		t.Fatalf("WriteAdmin: %v", err)
	}
	for _, err := range []error{
		st.PutAuthority(ctx, a),
		st.PutWorkload(ctx, workloadRec(t, root, "api-made", store.WorkloadSpec{})),
		st.PutEgg(ctx, &store.Egg{ID: "egg-r", Workload: "api-made", Peer: "any"}),
		st.PutBundle(ctx, &store.Bundle{TrustDomain: "rbac.example", Bundle: bundleDoc(t, "rbac.example", 1)}),
	} {
		if err != nil {
			t.Fatalf("writing as the service account: %v", err)
		}
	}
	if err := st.WriteAdmin(ctx, rootPEM, rootPEM, rootPEM); !errors.Is(err, kubestore.ErrConflict) {
		t.Errorf("WriteAdmin after the first start: %v, want ErrConflict", err)
	}
	if err := st.ReplaceAdmin(ctx, []byte("new cert"), []byte(a.CAs[0].Key), rootPEM); err != nil {
		t.Errorf("ReplaceAdmin: %v", err)
	}
	var admin corev1.Secret
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: kubestore.AdminSecret}, &admin); err != nil || string(admin.Data["tls.crt"]) != "new cert" || admin.Type != corev1.SecretTypeTLS {
		t.Errorf("admin Secret after ReplaceAdmin: %v %q %s", err, admin.Data["tls.crt"], admin.Type)
	}
	st.Changed(ctx)
	if err := env.Client.Create(ctx, &sealv1.Workload{ObjectMeta: metav1.ObjectMeta{Name: "kubectl-made"}}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, func() error {
		s, err := st.Load(ctx)
		if err != nil {
			return err
		}
		if s.Workloads["kubectl-made"] == nil || s.Workloads["api-made"] == nil || s.Bundles["rbac.example"] == nil {
			return fmt.Errorf("state as the service account: workloads %v, bundles %v", len(s.Workloads), len(s.Bundles))
		}
		return nil
	})
	for _, name := range []string{"api-made", "kubectl-made"} {
		if err := st.DeleteWorkload(ctx, name); err != nil {
			t.Errorf("DeleteWorkload %s: %v", name, err)
		}
	}
}

// TestKubeStoreWithoutCRDs: a cluster without Seal's CRDs is a clear error, and nothing is
// written.
func TestKubeStoreWithoutCRDs(t *testing.T) {
	env := testenv.Start(t, testenv.Options{NoCRDs: true, NoControllerManager: true})
	ns := env.Namespace(t, nil)
	st := newStore(t, env, ns)
	_, err := st.Load(context.Background())
	if err == nil || !strings.Contains(err.Error(), "are the seal.dev CRDs installed?") {
		t.Fatalf("Load without CRDs: %v, want an error asking for the CRDs", err)
	}
	if got := secrets(t, env, ns); got != "" {
		t.Errorf("secrets written: %s", got)
	}
}
