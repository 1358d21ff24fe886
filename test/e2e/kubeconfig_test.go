package e2e

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	certv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/seal-dev/seal/internal/kubeconfig"
	"github.com/seal-dev/seal/internal/testing/testenv"
)

// kcCluster is one control plane with a cluster signing CA, and its admin kubeconfig whose
// context is renamed to the cluster's name.
type kcCluster struct {
	name, admin string
	env         *testenv.Env
	client      kubernetes.Interface
}

func kcStart(t *testing.T, name string) kcCluster {
	t.Helper()
	env := testenv.Start(t, testenv.Options{NoCRDs: true, CSRSigning: true})
	raw, err := clientcmd.LoadFromFile(env.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	raw.Contexts[name] = raw.Contexts[raw.CurrentContext]
	delete(raw.Contexts, raw.CurrentContext)
	raw.CurrentContext = name
	admin := filepath.Join(env.Dir, name+"-admin.kubeconfig")
	if err := clientcmd.WriteToFile(*raw, admin); err != nil {
		t.Fatal(err)
	}
	return kcCluster{name: name, admin: admin, env: env, client: kubernetes.NewForConfigOrDie(env.Config)}
}

// sealctlRun runs the real sealctl and returns its exit code (-1 when it could not run),
// stdout and stderr. It is safe to call from another goroutine.
func sealctlRun(bin string, args ...string) (int, string, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Env = append(os.Environ(), "KUBECONFIG=/nonexistent")
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String(), errb.String()
	case err != nil:
		return -1, out.String(), err.Error()
	}
	return 0, out.String(), errb.String()
}

// sealctlResult is one sealctl run, handed over from a goroutine.
type sealctlResult struct {
	code           int
	stdout, stderr string
}

// userClient is a clientset for context of the kubeconfig file.
func userClient(t *testing.T, file, context string) kubernetes.Interface {
	t.Helper()
	rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: file}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: context}).ClientConfig()
	if err != nil {
		t.Fatalf("%s context %s: %v", file, context, err)
	}
	return kubernetes.NewForConfigOrDie(cfg)
}

// grant binds a Role allowing get/list of resource in ns to subject (kind User or Group).
func grant(t *testing.T, c kubernetes.Interface, ns, resource string, subject rbacv1.Subject) {
	t.Helper()
	ctx := context.Background()
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "read-" + resource, Namespace: ns},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{resource}, Verbs: []string{"get", "list"}}}}
	if _, err := c.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	subject.APIGroup = rbacv1.GroupName
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "read-" + resource, Namespace: ns},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects: []rbacv1.Subject{subject}}
	if _, err := c.RbacV1().RoleBindings(ns).Create(ctx, rb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// sealctlCSRs are the CSR objects sealctl left in cluster c.
func sealctlCSRs(t *testing.T, c kubernetes.Interface) []certv1.CertificateSigningRequest {
	t.Helper()
	l, err := c.CertificatesV1().CertificateSigningRequests().List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/managed-by=sealctl"})
	if err != nil {
		t.Fatal(err)
	}
	return l.Items
}

func showContexts(t *testing.T, bin, file string) map[string]kubeconfig.Context {
	t.Helper()
	code, out, errs := sealctlRun(bin, "kubeconfig", "show", file, "-o", "json")
	if code != 0 {
		t.Fatalf("kubeconfig show: exit %d: %s", code, errs)
	}
	var list []kubeconfig.Context
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("kubeconfig show -o json: %v\n%s", err, out)
	}
	m := map[string]kubeconfig.Context{}
	for _, c := range list {
		m[c.Name] = c
	}
	return m
}

// TestKubeconfigTwoClusters issues one kubeconfig for two clusters through their CSR APIs and
// checks what a user would: it authenticates as the user and groups asked for, RBAC grants
// exactly what the RoleBindings say, the CSRs are gone, and renew extends the expiry with the
// same key.
func TestKubeconfigTwoClusters(t *testing.T) {
	bin := testenv.Binary(t, "./cmd/sealctl")
	east, west := kcStart(t, "east"), kcStart(t, "west")
	grant(t, east.client, "team", "pods", rbacv1.Subject{Kind: rbacv1.GroupKind, Name: "seal:viewers"})
	grant(t, west.client, "team", "configmaps", rbacv1.Subject{Kind: rbacv1.UserKind, Name: "ci-deployer"})

	file := filepath.Join(t.TempDir(), "ci.kubeconfig")
	start := time.Now()
	code, _, errs := sealctlRun(bin, "--timeout", "60s", "kubeconfig", "issue",
		"--kubeconfig", east.admin, "--kubeconfig", west.admin,
		"--user", "ci-deployer", "--group", "seal:viewers", "--ttl", "1h", "--out", file)
	if code != 0 {
		t.Fatalf("kubeconfig issue: exit %d: %s", code, errs)
	}
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("kubeconfig %s: mode %v, want 0600 (it holds the private key)", file, fi.Mode().Perm())
	}

	shown := showContexts(t, bin, file)
	for _, c := range []kcCluster{east, west} {
		got := shown[c.name]
		server, err := clientcmd.BuildConfigFromFlags("", c.admin)
		if err != nil {
			t.Fatal(err)
		}
		if got.User != "ci-deployer" || strings.Join(got.Groups, ",") != "seal:viewers" || got.Server != server.Host {
			t.Errorf("show %s: %+v, want user ci-deployer, groups seal:viewers, server %s", c.name, got, server.Host)
		}
		if d := got.NotAfter.Sub(start); d < 59*time.Minute || d > 61*time.Minute {
			t.Errorf("show %s: expires %s, %s after issue, want about 1h", c.name, got.NotAfter, d)
		}
		// The cluster's signing CA issued it: the API server trusts it for that reason only.
		checkSignedBy(t, file, c)

		// Who the cluster says we are.
		uc := userClient(t, file, c.name)
		ssr, err := uc.AuthenticationV1().SelfSubjectReviews().Create(context.Background(), &authnv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("%s: SelfSubjectReview: %v", c.name, err)
		}
		if u := ssr.Status.UserInfo; u.Username != "ci-deployer" || !contains(u.Groups, "seal:viewers") || !contains(u.Groups, "system:authenticated") {
			t.Errorf("%s: SelfSubjectReview says %q in %v, want ci-deployer in seal:viewers", c.name, u.Username, u.Groups)
		}
		if n := len(sealctlCSRs(t, c.client)); n != 0 {
			t.Errorf("%s: %d sealctl CSRs left, want 0 (deleted without --keep-csr)", c.name, n)
		}
	}

	// RBAC: east binds pods in team to the group, west configmaps in team to the user.
	ctx := context.Background()
	allowed := func(err error) bool { return err == nil }
	for _, tc := range []struct {
		name    string
		call    func() error
		allowed bool
	}{
		{"east pods in team (group binding)", func() error {
			_, err := userClient(t, file, "east").CoreV1().Pods("team").List(ctx, metav1.ListOptions{})
			return err
		}, true},
		{"east configmaps in team", func() error {
			_, err := userClient(t, file, "east").CoreV1().ConfigMaps("team").List(ctx, metav1.ListOptions{})
			return err
		}, false},
		{"east pods in default", func() error {
			_, err := userClient(t, file, "east").CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
			return err
		}, false},
		{"west configmaps in team (user binding)", func() error {
			_, err := userClient(t, file, "west").CoreV1().ConfigMaps("team").List(ctx, metav1.ListOptions{})
			return err
		}, true},
		{"west pods in team", func() error {
			_, err := userClient(t, file, "west").CoreV1().Pods("team").List(ctx, metav1.ListOptions{})
			return err
		}, false},
		{"west create configmap in team", func() error {
			_, err := userClient(t, file, "west").CoreV1().ConfigMaps("team").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{})
			return err
		}, false},
	} {
		err := tc.call()
		if allowed(err) != tc.allowed || (!tc.allowed && !apierrors.IsForbidden(err)) {
			t.Errorf("%s: error %v, want allowed=%v (forbidden otherwise)", tc.name, err, tc.allowed)
		}
	}

	// Renew: later expiry, same key, still authenticates.
	before, _ := os.ReadFile(file)
	code, out, errs := sealctlRun(bin, "--timeout", "60s", "kubeconfig", "renew", file,
		"--kubeconfig", east.admin, "--kubeconfig", west.admin, "--ttl", "2h")
	if code != 0 {
		t.Fatalf("kubeconfig renew: exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "east") || !strings.Contains(out, "west") {
		t.Errorf("renew output %q, want both contexts", out)
	}
	renewed := showContexts(t, bin, file)
	after, _ := os.ReadFile(file)
	for _, c := range []kcCluster{east, west} {
		if !renewed[c.name].NotAfter.After(shown[c.name].NotAfter.Add(50 * time.Minute)) {
			t.Errorf("%s: renewed expiry %s, want about an hour after %s", c.name, renewed[c.name].NotAfter, shown[c.name].NotAfter)
		}
		if k1, k2 := keyData(t, before, c.name), keyData(t, after, c.name); !bytes.Equal(k1, k2) {
			t.Errorf("%s: renew changed the key", c.name)
		}
		checkSignedBy(t, file, c)
		if _, err := userClient(t, file, c.name).AuthenticationV1().SelfSubjectReviews().Create(ctx, &authnv1.SelfSubjectReview{}, metav1.CreateOptions{}); err != nil {
			t.Errorf("%s: renewed certificate: %v", c.name, err)
		}
	}
}

// TestKubeconfigCSRLifecycle: --keep-csr keeps the object, a denied CSR and a signer nobody
// runs give their errors and write nothing, --no-approve waits for someone else's approval.
func TestKubeconfigCSRLifecycle(t *testing.T) {
	bin := testenv.Binary(t, "./cmd/sealctl")
	east := kcStart(t, "east")
	dir := t.TempDir()
	ctx := context.Background()

	t.Run("keep-csr", func(t *testing.T) {
		out := filepath.Join(dir, "kept.kubeconfig")
		if code, _, errs := sealctlRun(bin, "--timeout", "60s", "kubeconfig", "issue", "--kubeconfig", east.admin,
			"--user", "kept", "--ttl", "30m", "--keep-csr", "--out", out); code != 0 {
			t.Fatalf("issue --keep-csr: exit %d: %s", code, errs)
		}
		csrs := sealctlCSRs(t, east.client)
		if len(csrs) != 1 {
			t.Fatalf("%d sealctl CSRs, want the 1 kept", len(csrs))
		}
		c := csrs[0]
		if c.Spec.SignerName != kubeconfig.DefaultSigner || c.Spec.ExpirationSeconds == nil || *c.Spec.ExpirationSeconds != 1800 ||
			!containsUsage(c.Spec.Usages, certv1.UsageClientAuth) || len(c.Status.Certificate) == 0 || !strings.HasPrefix(c.Name, "sealctl-kept-") {
			t.Errorf("kept CSR %s: signer %s expiration %v usages %v cert %d bytes", c.Name, c.Spec.SignerName, c.Spec.ExpirationSeconds, c.Spec.Usages, len(c.Status.Certificate))
		}
		if bytes.Contains(c.Spec.Request, []byte("PRIVATE KEY")) {
			t.Error("the CSR carries a private key")
		}
		_ = east.client.CertificatesV1().CertificateSigningRequests().Delete(ctx, c.Name, metav1.DeleteOptions{})
	})

	t.Run("denied", func(t *testing.T) {
		out := filepath.Join(dir, "denied.kubeconfig")
		done := make(chan sealctlResult, 1)
		go func() {
			code, so, se := sealctlRun(bin, "--timeout", "60s", "kubeconfig", "issue", "--kubeconfig", east.admin,
				"--user", "mallory", "--no-approve", "--out", out)
			done <- sealctlResult{code, so, se}
		}()
		name := waitCSR(t, east.client, "sealctl-mallory-")
		deny(t, east.client, name)
		r := <-done
		if r.code != 1 || !strings.Contains(r.stderr, "certificate signing request denied: cluster east: CSR "+name+": PolicyRefused: not for mallory") {
			t.Errorf("denied: exit %d stderr %q, want 1 and the denial naming cluster east and CSR %s", r.code, r.stderr, name)
		}
		if !strings.Contains(r.stderr, "waiting up to 1m0s for someone else to approve CSR "+name) {
			t.Errorf("--no-approve did not say it waits: %q", r.stderr)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("%s written after a denial (stat: %v)", out, err)
		}
	})

	t.Run("approved by someone else", func(t *testing.T) {
		out := filepath.Join(dir, "other.kubeconfig")
		done := make(chan sealctlResult, 1)
		go func() {
			code, so, se := sealctlRun(bin, "--timeout", "60s", "kubeconfig", "issue", "--kubeconfig", east.admin,
				"--user", "oncall", "--no-approve", "--out", out)
			done <- sealctlResult{code, so, se}
		}()
		name := waitCSR(t, east.client, "sealctl-oncall-")
		approve(t, east.client, name)
		if r := <-done; r.code != 0 {
			t.Fatalf("issue after someone else approved: exit %d: %s", r.code, r.stderr)
		}
		if got := showContexts(t, bin, out)["east"].User; got != "oncall" {
			t.Errorf("user %q, want oncall", got)
		}
	})

	t.Run("no signer", func(t *testing.T) {
		out := filepath.Join(dir, "nosigner.kubeconfig")
		code, _, errs := sealctlRun(bin, "--timeout", "5s", "kubeconfig", "issue", "--kubeconfig", east.admin,
			"--user", "ci", "--signer", "seal.dev/nobody-signs-this", "--out", out)
		if code != 1 || !strings.Contains(errs, `no signer answered: cluster east: CSR sealctl-ci-`) || !strings.Contains(errs, `was approved but no signer for "seal.dev/nobody-signs-this" answered within 5s`) {
			t.Errorf("no signer: exit %d stderr %q", code, errs)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("%s written without a certificate (stat: %v)", out, err)
		}
		if n := len(sealctlCSRs(t, east.client)); n != 0 {
			t.Errorf("%d sealctl CSRs left after the failures, want 0", n)
		}
	})
}

// waitCSR waits for sealctl's CSR whose name starts with prefix and returns its name.
func waitCSR(t *testing.T, c kubernetes.Interface, prefix string) string {
	t.Helper()
	var name string
	testenv.Eventually(t, 30*time.Second, func() error {
		for _, r := range sealctlCSRs(t, c) {
			if strings.HasPrefix(r.Name, prefix) {
				name = r.Name
				return nil
			}
		}
		return os.ErrNotExist
	})
	return name
}

func setCondition(t *testing.T, c kubernetes.Interface, name string, cond certv1.CertificateSigningRequestCondition) {
	t.Helper()
	ctx := context.Background()
	csr, err := c.CertificatesV1().CertificateSigningRequests().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cond.Status, cond.LastUpdateTime = corev1.ConditionTrue, metav1.Now()
	csr.Status.Conditions = append(csr.Status.Conditions, cond)
	if _, err := c.CertificatesV1().CertificateSigningRequests().UpdateApproval(ctx, name, csr, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func deny(t *testing.T, c kubernetes.Interface, name string) {
	setCondition(t, c, name, certv1.CertificateSigningRequestCondition{Type: certv1.CertificateDenied, Reason: "PolicyRefused", Message: "not for mallory"})
}

func approve(t *testing.T, c kubernetes.Interface, name string) {
	setCondition(t, c, name, certv1.CertificateSigningRequestCondition{Type: certv1.CertificateApproved, Reason: "OnCallLead", Message: "approved by a person"})
}

// checkSignedBy verifies context c.name's certificate in file against the cluster signing CA.
func checkSignedBy(t *testing.T, file string, c kcCluster) {
	t.Helper()
	raw, err := clientcmd.LoadFromFile(file)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(raw.AuthInfos[raw.Contexts[c.name].AuthInfo].ClientCertificateData)
	if b == nil {
		t.Fatalf("%s: no certificate", c.name)
	}
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.env.SigningCA)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("%s: certificate not from the cluster signing CA: %v", c.name, err)
	}
}

func keyData(t *testing.T, kc []byte, context string) []byte {
	t.Helper()
	raw, err := clientcmd.Load(kc)
	if err != nil {
		t.Fatal(err)
	}
	return raw.AuthInfos[raw.Contexts[context].AuthInfo].ClientKeyData
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func containsUsage(s []certv1.KeyUsage, v certv1.KeyUsage) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
