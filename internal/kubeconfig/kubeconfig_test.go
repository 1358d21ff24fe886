package kubeconfig

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

var (
	t0 = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	t1 = t0.Add(2 * time.Hour)
)

// testCert is a certificate for user in groups valid from nb to na, with its key, both PEM.
func testCert(t testing.TB, user string, groups []string, nb, na time.Time) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7),
		Subject:      pkix.Name{CommonName: user, Organization: groups},
		Issuer:       pkix.Name{CommonName: "test-ca"},
		NotBefore:    nb, NotAfter: na,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalPKCS8PrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd})
}

// testConfig is a kubeconfig as Issue assembles it, for clusters east and west.
func testConfig(t testing.TB) *clientcmdapi.Config {
	cfg := clientcmdapi.NewConfig()
	for _, n := range []string{"east", "west"} {
		cert, key := testCert(t, "ci", []string{"deployers", "viewers"}, t0, t1)
		cl := clientcmdapi.NewCluster()
		cl.Server = "https://" + n + ".example:6443"
		cl.CertificateAuthorityData = []byte("ca of " + n)
		add(cfg, n, "ci", cl, cert, key, meta{Signer: DefaultSigner, TTLSeconds: 7200})
	}
	cfg.CurrentContext = "east"
	return cfg
}

func TestWriteFileAndInspect(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ci.kubeconfig")
	if err := WriteFile(path, testConfig(t)); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600 (the file holds a private key)", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	for _, want := range []string{"client-certificate-data:", "client-key-data:", "name: " + Extension, "ttlSeconds: 7200", "current-context: east"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("kubeconfig lacks %q:\n%s", want, b)
		}
	}
	// kubectl's loader takes it, and reaches east with its own user.
	rc, err := clientcmd.NewNonInteractiveClientConfig(*mustLoad(t, b), "east", &clientcmd.ConfigOverrides{}, nil).ClientConfig()
	if err != nil {
		t.Fatalf("client config: %v", err)
	}
	if rc.Host != "https://east.example:6443" || len(rc.CertData) == 0 || len(rc.KeyData) == 0 || string(rc.CAData) != "ca of east" {
		t.Errorf("east: host %q cert %d key %d ca %q", rc.Host, len(rc.CertData), len(rc.KeyData), rc.CAData)
	}
	got, err := Inspect(b)
	if err != nil {
		t.Fatal(err)
	}
	want := []Context{
		{Name: "east", Current: true, Cluster: "east", Server: "https://east.example:6443", User: "ci", Groups: []string{"deployers", "viewers"}, Issuer: "ci", NotBefore: t0, NotAfter: t1, Signer: DefaultSigner},
		{Name: "west", Cluster: "west", Server: "https://west.example:6443", User: "ci", Groups: []string{"deployers", "viewers"}, Issuer: "ci", NotBefore: t0, NotAfter: t1, Signer: DefaultSigner},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Inspect:\n got %+v\nwant %+v", got, want)
	}
}

func mustLoad(t *testing.T, b []byte) *clientcmdapi.Config {
	t.Helper()
	c, err := clientcmd.Load(b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestInspectProblems(t *testing.T) {
	cfg := testConfig(t)
	cfg.AuthInfos["ci@west"].ClientCertificateData = []byte("not pem")
	tok := clientcmdapi.NewAuthInfo()
	tok.Token = "secret-token"
	cfg.AuthInfos["bot"] = tok
	cfg.Contexts["token"] = &clientcmdapi.Context{Cluster: "east", AuthInfo: "bot"}
	cfg.Contexts["dangling"] = &clientcmdapi.Context{Cluster: "east", AuthInfo: "nobody"}
	b, err := clientcmd.Write(*cfg)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Inspect(b)
	if err != nil {
		t.Fatal(err)
	}
	problems := map[string]string{}
	for _, c := range got {
		problems[c.Name] = c.Problem
	}
	want := map[string]string{
		"dangling": `no user entry "nobody"`,
		"east":     "",
		"token":    "no inline client certificate (client-certificate-data)",
		"west":     "no PEM certificate in client-certificate-data",
	}
	if !reflect.DeepEqual(problems, want) {
		t.Errorf("problems: got %v, want %v", problems, want)
	}
	if _, err := Inspect([]byte("clusters: [")); err == nil || !strings.Contains(err.Error(), "not a kubeconfig") {
		t.Errorf("Inspect(garbage) error %v, want not a kubeconfig", err)
	}
}

// writeAdmin writes an admin kubeconfig with contexts name -> server and returns its path.
func writeAdmin(t *testing.T, current string, servers map[string]string) string {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	for name, server := range servers {
		cl := clientcmdapi.NewCluster()
		cl.Server = server
		cfg.Clusters[name] = cl
		ai := clientcmdapi.NewAuthInfo()
		ai.Token = "admin"
		cfg.AuthInfos[name] = ai
		cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	}
	cfg.CurrentContext = current
	p := filepath.Join(t.TempDir(), "admin.kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadTargets(t *testing.T) {
	both := writeAdmin(t, "east", map[string]string{"east": "https://e:6443", "west": "https://w:6443"})
	a := writeAdmin(t, "envtest", map[string]string{"envtest": "https://a:6443"})
	b := writeAdmin(t, "envtest", map[string]string{"envtest": "https://b:6443"})
	tests := []struct {
		name     string
		files    []string
		contexts []string
		want     []string // name=host
		wantErr  string
	}{
		{"current context", []string{both}, nil, []string{"east=https://e:6443"}, ""},
		{"contexts of one file", []string{both}, []string{"west", "east"}, []string{"west=https://w:6443", "east=https://e:6443"}, ""},
		{"files alike get suffixes", []string{a, b}, nil, []string{"envtest=https://a:6443", "envtest-2=https://b:6443"}, ""},
		{"one context per file", []string{both, a}, []string{"west", "envtest"}, []string{"west=https://w:6443", "envtest=https://a:6443"}, ""},
		{"unknown context", []string{both}, []string{"north"}, nil, `has no context "north"`},
		{"contexts do not pair", []string{both, a, b}, []string{"east", "envtest"}, nil, "2 --context for 3 --kubeconfig files"},
		{"missing file", []string{filepath.Join(t.TempDir(), "nope")}, nil, nil, "reading the admin kubeconfig"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadTargets(tt.files, tt.contexts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, g := range got {
				names = append(names, g.Name+"="+g.Config.Host)
			}
			if !reflect.DeepEqual(names, tt.want) {
				t.Errorf("got %v, want %v", names, tt.want)
			}
		})
	}
}

func TestCSRPrefix(t *testing.T) {
	tests := []struct{ user, want string }{
		{"ci-deployer", "sealctl-ci-deployer-"},
		{"Jane.Doe@Example.org", "sealctl-jane.doe-example.org-"},
		{"system:serviceaccount:x", "sealctl-system-serviceaccount-x-"},
		{"@@@", "sealctl-"},
		{strings.Repeat("a", 100), "sealctl-" + strings.Repeat("a", 40) + "-"},
	}
	for _, tt := range tests {
		if got := csrPrefix(tt.user); got != tt.want {
			t.Errorf("csrPrefix(%q) = %q, want %q", tt.user, got, tt.want)
		}
	}
}

func TestRenewTTL(t *testing.T) {
	d := Context{NotBefore: t0.Add(-5 * time.Minute), NotAfter: t0.Add(time.Hour)}
	tests := []struct {
		name     string
		m        meta
		override time.Duration
		want     time.Duration
	}{
		{"override wins", meta{TTLSeconds: 3600}, 3 * time.Hour, 3 * time.Hour},
		{"remembered", meta{TTLSeconds: 3600}, 0, time.Hour},
		{"from the old certificate", meta{}, 0, 65 * time.Minute},
	}
	for _, tt := range tests {
		if got := tt.m.ttl(tt.override, d); got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestRenewWithinAndTargets(t *testing.T) {
	cfg := testConfig(t)
	// Nothing expires within 10 minutes of t0: nothing renewed, no cluster contacted.
	_, done, err := Renew(context.Background(), cfg, nil, RenewOptions{Within: 10 * time.Minute, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range done {
		if d.Renewed || !d.NotAfter.Equal(t1) {
			t.Errorf("%+v: want not renewed, expiry %s", d, t1)
		}
	}
	// Renewing with no admin access to west's server names the context and the server.
	admin, err := LoadTargets([]string{writeAdmin(t, "x", map[string]string{"x": "https://elsewhere:6443"})}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = Renew(context.Background(), cfg, admin, RenewOptions{})
	if err == nil || !strings.Contains(err.Error(), "context east: no admin kubeconfig reaches its server https://east.example:6443") {
		t.Errorf("error %v, want no admin kubeconfig reaches east", err)
	}
}

func TestIssueRefusesBadOptions(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"no user", Options{}, "no user name"},
		{"short ttl", Options{User: "u", TTL: time.Minute}, "too short"},
		{"empty group", Options{User: "u", Groups: []string{""}}, "empty group"},
	}
	for _, tt := range tests {
		_, err := Issue(context.Background(), []Target{{Name: "x"}}, tt.o)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.want)
		}
	}
	if _, err := Issue(context.Background(), nil, Options{User: "u"}); err == nil || !errors.Is(err, err) || !strings.Contains(err.Error(), "no cluster") {
		t.Errorf("no targets: error %v", err)
	}
}

func TestCheckIssued(t *testing.T) {
	cert, keyPEM := testCert(t, "ci", nil, t0, t1)
	b, _ := pem.Decode(keyPEM)
	k, _ := x509.ParsePKCS8PrivateKey(b.Bytes)
	key := k.(*ecdsa.PrivateKey)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err := checkIssued(cert, key.Public(), "ci", "east"); err != nil {
		t.Errorf("own certificate refused: %v", err)
	}
	if err := checkIssued(cert, other.Public(), "ci", "east"); err == nil || !strings.Contains(err.Error(), "another key") {
		t.Errorf("certificate for another key: error %v", err)
	}
	if err := checkIssued(cert, key.Public(), "root", "east"); err == nil || !strings.Contains(err.Error(), `for "ci", not "root"`) {
		t.Errorf("certificate for another user: error %v", err)
	}
}

func FuzzInspect(f *testing.F) {
	good, err := clientcmd.Write(*testConfig(f))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte("apiVersion: v1\nkind: Config\ncontexts:\n- name: a\n  context: {cluster: c, user: u}\nusers:\n- name: u\n  user: {client-certificate-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==}\n"))
	f.Add([]byte("users:\n- name: u\n  user:\n    extensions:\n    - name: seal.dev/kubeconfig\n      extension: {ttlSeconds: x}\n"))
	f.Add([]byte("{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ctxs, err := Inspect(data)
		if err != nil {
			return
		}
		for _, c := range ctxs {
			if c.Problem == "" && c.NotAfter.IsZero() {
				t.Errorf("context %q has no problem and no expiry", c.Name)
			}
		}
	})
}
