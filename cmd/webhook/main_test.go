package main_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seal-dev/seal/internal/inject"
	"github.com/seal-dev/seal/internal/servingcert"
	"github.com/seal-dev/seal/internal/testing/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.CleanupBinaries()
	os.Exit(code)
}

// webhookProc is a running seal-webhook process with --cert-dir.
type webhookProc struct {
	cmd     *exec.Cmd
	stderr  *testenv.LogBuffer
	done    chan struct{} // closed when the process has exited; then waitErr is set
	waitErr error
	url     string // https://127.0.0.1:PORT
	metrics string // http://127.0.0.1:PORT
	client  *http.Client
	caFile  string // PEM of the CA of the serving certificate (startWebhook)
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startWebhook runs seal-webhook with --cert-dir holding a leaf for 127.0.0.1.
func startWebhook(t testing.TB, env *testenv.Env, args ...string) *webhookProc {
	t.Helper()
	ca, err := servingcert.NewCA("test", time.Now(), time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(nil, []net.IP{net.IPv4(127, 0, 0, 1)}, time.Now(), time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := servingcert.PEM(leaf)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tls.crt"), certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.key"), keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	p := launch(t, env, &tls.Config{RootCAs: pool}, append([]string{"--cert-dir", dir}, args...)...)
	p.caFile = caFile
	return p
}

// launch starts seal-webhook on loopback ports with args and waits for /readyz.
func launch(t testing.TB, env *testenv.Env, clientTLS *tls.Config, args ...string) *webhookProc {
	t.Helper()
	port, mport := freePort(t), freePort(t)
	p := &webhookProc{stderr: &testenv.LogBuffer{}, done: make(chan struct{}),
		url: fmt.Sprintf("https://127.0.0.1:%d", port), metrics: fmt.Sprintf("http://127.0.0.1:%d", mport)}
	bin := os.Getenv("SEAL_WEBHOOK_BINARY") // another build to compare with, for the benchmarks
	if bin == "" {
		bin = testenv.Binary(t, "./cmd/webhook")
	}
	p.cmd = exec.Command(bin, append([]string{
		"--kubeconfig", env.Kubeconfig, "--host", "127.0.0.1", "--port", strconv.Itoa(port),
		"--metrics-addr", fmt.Sprintf("127.0.0.1:%d", mport), "--init-image", "ghcr.io/seal-dev/seal-init:test",
		"--trust-domain", "prod.example.org", "--shutdown-grace", "0s", "--log-level", "warn"}, args...)...)
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.waitErr = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	p.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: clientTLS, MaxIdleConnsPerHost: 64}}
	t.Cleanup(p.client.CloseIdleConnections)
	testenv.Eventually(t, 30*time.Second, func() error {
		select {
		case <-p.done:
			t.Fatalf("seal-webhook exited: %v\n%s", p.waitErr, p.stderr)
		default:
		}
		resp, err := http.Get(p.metrics + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/readyz: %s", resp.Status)
		}
		return nil
	})
	return p
}

func reviewBody(ns string) []byte {
	pod := corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{GenerateName: "web-", Annotations: map[string]string{inject.AnnotationWorkload: "payments"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{
			{Name: "app", Image: "shop/app:1"}, {Name: "proxy", Image: "envoy:1"}, {Name: "log", Image: "fluent:1"}}},
	}
	raw, _ := json.Marshal(&pod)
	b, _ := json.Marshal(&admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{UID: "u", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Namespace: ns, Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw}},
	})
	return b
}

func (p *webhookProc) review(t testing.TB, body []byte) *admissionv1.AdmissionResponse {
	resp, err := p.client.Post(p.url+"/inject", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ar admissionv1.AdmissionReview
	if err := json.NewDecoder(resp.Body).Decode(&ar); err != nil || ar.Response == nil {
		t.Fatalf("answer: %v", err)
	}
	return ar.Response
}

// TestProcess runs the real seal-webhook binary against a real API server: it reads the
// namespace's label, injects, counts it in /metrics, and exits 0 on SIGTERM.
func TestProcess(t *testing.T) {
	env := testenv.Start(t, testenv.Options{NoControllerManager: true})
	ns := env.Namespace(t, map[string]string{inject.LabelInject: inject.NamespaceEnabled})
	other := env.Namespace(t, nil)
	p := startWebhook(t, env)

	if r := p.review(t, reviewBody(ns)); !r.Allowed || len(r.Patch) == 0 {
		t.Errorf("pod in an enabled namespace: allowed %v patch %d bytes, want injected", r.Allowed, len(r.Patch))
	}
	if r := p.review(t, reviewBody(other)); !r.Allowed || len(r.Patch) != 0 {
		t.Errorf("pod in an unlabelled namespace: allowed %v patch %q, want untouched", r.Allowed, r.Patch)
	}
	resp, err := http.Get(p.metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"seal_webhook_injections_total 1", `seal_webhook_skips_total{reason="not-selected"} 1`, "seal_webhook_review_duration_seconds_bucket",
		`seal_webhook_build_info{go_version="go`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
		if p.waitErr != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", p.waitErr, p.stderr)
		}
	case <-time.After(20 * time.Second):
		t.Errorf("seal-webhook did not stop on SIGTERM\n%s", p.stderr)
	}
}

// BenchmarkProcessRSS sends b.N injection reviews to the real binary (16 keep-alive clients)
// and reports its resident memory afterwards; run with -benchtime=100000x for the goal (< 80 MiB
// after 100,000 reviews).
func BenchmarkProcessRSS(b *testing.B) {
	env := testenv.Start(b, testenv.Options{NoControllerManager: true})
	ns := env.Namespace(b, map[string]string{inject.LabelInject: inject.NamespaceEnabled})
	p := startWebhook(b, env)
	body := reviewBody(ns)
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := p.client.Post(p.url+"/inject", "application/json", bytes.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
	b.StopTimer()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			b.ReportMetric(kb/1024, "RSS-MiB")
		}
	}
}

// TestProcessManagedCert runs seal-webhook without --cert-dir: it creates its CA Secret, patches
// the caBundle into its MutatingWebhookConfiguration, and serves a leaf for its Service name
// that verifies against that caBundle.
func TestProcessManagedCert(t *testing.T) {
	env := testenv.Start(t, testenv.Options{NoControllerManager: true})
	ctx := context.Background()
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "seal-system"}}); err != nil {
		t.Fatal(err)
	}
	m, _, err := testenv.WebhookConfigurations("/inject")
	if err != nil {
		t.Fatal(err)
	}
	mwc := *m
	if err := env.Client.Create(ctx, &mwc); err != nil {
		t.Fatal(err)
	}
	ns := env.Namespace(t, map[string]string{inject.LabelInject: inject.NamespaceEnabled})

	// The client trusts only what the webhook configuration's caBundle says, as the API server does.
	var bundle []byte
	clientTLS := &tls.Config{ServerName: "seal-webhook.seal-system.svc"}
	clientTLS.InsecureSkipVerify = true // verified below against the caBundle, read once it exists
	clientTLS.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(bundle) {
			return fmt.Errorf("no caBundle")
		}
		leaf, err := x509.ParseCertificate(raw[0])
		if err != nil {
			return err
		}
		_, err = leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "seal-webhook.seal-system.svc"})
		return err
	}
	p := launch(t, env, clientTLS, "--namespace", "seal-system")

	var sec corev1.Secret
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "seal-system", Name: "seal-webhook-ca"}, &sec); err != nil {
		t.Fatalf("CA Secret: %v", err)
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		if err := env.Client.Get(ctx, client.ObjectKey{Name: "seal-webhook"}, &mwc); err != nil {
			return err
		}
		for _, w := range mwc.Webhooks {
			if !bytes.Equal(w.ClientConfig.CABundle, sec.Data[servingcert.KeyCACert]) {
				return fmt.Errorf("webhook %s caBundle is not the CA Secret's", w.Name)
			}
		}
		return nil
	})
	bundle = mwc.Webhooks[0].ClientConfig.CABundle
	var served *x509.Certificate
	clientTLS.VerifyConnection = func(cs tls.ConnectionState) error { served = cs.PeerCertificates[0]; return nil }
	if r := p.review(t, reviewBody(ns)); !r.Allowed || len(r.Patch) == 0 {
		t.Errorf("review over the managed certificate: allowed %v patch %d bytes, want injected", r.Allowed, len(r.Patch))
	}
	// /metrics says when the serving certificate expires (what an expiry alert watches).
	resp, err := http.Get(p.metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	const name = "seal_webhook_serving_cert_expiry_timestamp_seconds "
	i := strings.Index(string(b), "\n"+name)
	var got float64
	if i < 0 || served == nil {
		t.Fatalf("/metrics lacks %s (served certificate %v)", name, served != nil)
	}
	if _, err := fmt.Sscan(string(b[i+1+len(name):]), &got); err != nil || int64(got) != served.NotAfter.Unix() {
		t.Errorf("%s%v (%v), want the served certificate's notAfter %d", name, got, err, served.NotAfter.Unix())
	}
}

// namespaceWatches is how many watches of Namespaces the API server is serving.
func namespaceWatches(t testing.TB, env *testenv.Env) int {
	t.Helper()
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := cs.RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	if err != nil {
		t.Fatalf("API server metrics: %v", err)
	}
	n := 0
	for _, line := range strings.Split(string(raw), "\n") {
		if !strings.HasPrefix(line, "apiserver_longrunning_requests{") || !strings.Contains(line, `resource="namespaces"`) || !strings.Contains(line, `verb="WATCH"`) {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		n += int(v)
	}
	return n
}

// TestProcessOneNamespaceWatch: the injector and the image policy share one cache, so the whole
// process watches Namespaces once.
func TestProcessOneNamespaceWatch(t *testing.T) {
	env := testenv.Start(t, testenv.Options{NoControllerManager: true})
	before := namespaceWatches(t, env)
	pprof := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p := startWebhook(t, env, "--log-format", "json", "--log-level", "info", "--pprof-addr", pprof)
	testenv.Eventually(t, 10*time.Second, func() error {
		if n := namespaceWatches(t, env) - before; n < 1 {
			return fmt.Errorf("%d watches of Namespaces from seal-webhook, want 1", n)
		}
		return nil
	})
	time.Sleep(2 * time.Second) // every informer has opened its watch by now
	if n := namespaceWatches(t, env) - before; n != 1 {
		t.Errorf("seal-webhook watches Namespaces %d times, want once (one cache)\n%s", n, p.stderr)
	}
	// --log-format json: every line a JSON object with time, level and msg (its own, the
	// manager's and client-go's), for log collectors.
	lines := strings.Split(strings.TrimSpace(p.stderr.String()), "\n")
	for _, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil || rec["time"] == nil || rec["level"] == nil || rec["msg"] == nil {
			t.Errorf("--log-format json wrote a line that is not a log object (%v): %s", err, l)
		}
	}
	if len(lines) < 2 {
		t.Errorf("--log-level info logged %d lines, want the start-up lines:\n%s", len(lines), p.stderr)
	}
	// --pprof-addr: Go's profiles on that address only, not on the metrics server.
	for _, c := range []struct {
		url  string
		want int
	}{{"http://" + pprof + "/debug/pprof/cmdline", http.StatusOK}, {p.metrics + "/debug/pprof/cmdline", http.StatusNotFound}} {
		resp, err := http.Get(c.url)
		if err != nil {
			t.Fatalf("GET %s: %v", c.url, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("GET %s: %s, want %d", c.url, resp.Status, c.want)
		}
		if c.want == http.StatusOK && !strings.Contains(string(body), "webhook") {
			t.Errorf("GET %s: %q, want the command line of seal-webhook", c.url, body)
		}
	}
}
