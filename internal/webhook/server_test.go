package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/config"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/seal-dev/seal/internal/inject"
	"github.com/seal-dev/seal/internal/servingcert"
)

var testInject = inject.Config{Image: "ghcr.io/seal-dev/seal-init:test", TrustDomain: "prod.example.org", Namespace: "seal-system"}

var testNamespaces = StaticNamespaces{"shop": {inject.LabelInject: inject.NamespaceEnabled}}

// running is a manager serving the injection review over TLS on loopback.
type running struct {
	mgr    manager.Manager
	url    string
	client *http.Client
	reg    *prometheus.Registry
	events *record.FakeRecorder
	cancel context.CancelFunc
	done   chan error
	caFile string // PEM of the CA of the serving certificate
}

// freePort finds a port for controller-runtime's server, which takes a port, not a listener.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// testCert makes a CA and a leaf for 127.0.0.1.
func testCert(t testing.TB) (*tls.Certificate, *x509.CertPool, *x509.Certificate) {
	t.Helper()
	ca, err := servingcert.NewCA("test webhook CA", time.Now(), time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue([]string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)}, time.Now(), time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return leaf, pool, ca.Cert
}

var setLoggerOnce sync.Once

// newManager is a manager with seal-webhook's server and the injection review. No API server is
// needed: namespace labels come from testNamespaces, and nothing else reads the cluster.
func newManager(t testing.TB, so ServerOptions, o Options) manager.Manager {
	t.Helper()
	setLoggerOnce.Do(func() { ctrllog.SetLogger(logr.Discard()) })
	skip := true
	mgr, err := ctrl.NewManager(&rest.Config{Host: "https://127.0.0.1:1"}, ctrl.Options{
		WebhookServer:          NewServer(so),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Logger:                 logr.Discard(),
		Controller:             config.Controller{SkipNameValidation: &skip},
	})
	if err != nil {
		t.Fatal(err)
	}
	o.Inject, o.Namespaces = testInject, testNamespaces
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Events == nil {
		o.Events = &record.FakeRecorder{} // drops them
	}
	if err := Setup(mgr, o); err != nil {
		t.Fatal(err)
	}
	return mgr
}

func start(t testing.TB, extra map[string]http.Handler) *running {
	t.Helper()
	leaf, pool, ca := testCert(t)
	r := &running{reg: prometheus.NewRegistry(), events: record.NewFakeRecorder(100), done: make(chan error, 1),
		caFile: filepath.Join(t.TempDir(), "ca.crt")}
	if err := os.WriteFile(r.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	r.mgr = newManager(t, ServerOptions{
		Host: "127.0.0.1", Port: port,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return leaf, nil },
		MaxBodyBytes:   1 << 20, Log: slog.New(slog.DiscardHandler),
	}, Options{Events: r.events, Registry: r.reg})
	for path, h := range extra {
		r.mgr.GetWebhookServer().Register(path, h)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- r.mgr.Start(ctx) }()
	t.Cleanup(r.stop)
	r.url = fmt.Sprintf("https://127.0.0.1:%d", port)
	r.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: 64, ForceAttemptHTTP2: false,
	}}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), &tls.Config{RootCAs: pool})
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook server did not start: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return r
}

func (r *running) stop() {
	r.cancel()
	select {
	case <-r.done:
	case <-time.After(70 * time.Second):
	}
	r.client.CloseIdleConnections()
}

// review builds an AdmissionReview for creating pod in namespace.
func review(pod *corev1.Pod, namespace string) []byte {
	raw, _ := json.Marshal(pod)
	ar := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: types.UID("uid-1"), Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource: metav1.GroupVersionResource{Version: "v1", Resource: "pods"}, Namespace: namespace,
			Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw},
		},
	}
	b, _ := json.Marshal(&ar)
	return b
}

func testPod(ann map[string]string) *corev1.Pod {
	ctrl := true
	return &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{GenerateName: "web-abc-", Annotations: ann,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-abc", UID: "rs-uid", Controller: &ctrl}}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "shop/app:1"}}},
	}
}

func (r *running) post(t testing.TB, path string, body []byte) (int, admissionv1.AdmissionReview) {
	t.Helper()
	resp, err := r.client.Post(r.url+path, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	var ar admissionv1.AdmissionReview
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &ar); err != nil {
		t.Logf("POST %s: %d %s", path, resp.StatusCode, b)
	}
	return resp.StatusCode, ar
}

func TestInjectReview(t *testing.T) {
	r := start(t, nil)
	pod := testPod(map[string]string{inject.AnnotationWorkload: "payments"})
	code, ar := r.post(t, PathInject, review(pod, "shop"))
	if code != http.StatusOK || ar.Response == nil || !ar.Response.Allowed {
		t.Fatalf("status %d response %+v, want allowed", code, ar.Response)
	}
	if ar.Response.UID != "uid-1" || ar.Response.PatchType == nil || *ar.Response.PatchType != admissionv1.PatchTypeJSONPatch {
		t.Fatalf("response uid %q patchType %v, want uid-1 JSONPatch", ar.Response.UID, ar.Response.PatchType)
	}
	raw, _ := json.Marshal(pod)
	p, err := jsonpatch.DecodePatch(ar.Response.Patch)
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Apply(raw)
	if err != nil {
		t.Fatalf("patch does not apply: %v", err)
	}
	var got corev1.Pod
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if got.Spec.InitContainers[0].Name != inject.InitContainerName || got.Annotations[inject.AnnotationStatus] == "" {
		t.Errorf("patched pod lacks seal-init or status: %+v", got.Spec.InitContainers)
	}
	if v := counter(t, r.reg, "seal_webhook_injections_total"); v != 1 {
		t.Errorf("injections = %v, want 1", v)
	}
}

// counter is the sum of a counter family's values.
func counter(t testing.TB, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			sum := 0.0
			for _, m := range mf.Metric {
				sum += m.GetCounter().GetValue()
			}
			return sum
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func TestReviewOutcomes(t *testing.T) {
	r := start(t, nil)
	tests := []struct {
		name      string
		pod       *corev1.Pod
		ns        string
		allowed   bool
		patch     bool
		message   string
		skipLabel string
	}{
		{name: "unlabelled namespace is skipped", pod: testPod(map[string]string{inject.AnnotationWorkload: "w"}), ns: "other", allowed: true, skipLabel: "not-selected"},
		{name: "system namespace is skipped", pod: testPod(map[string]string{inject.AnnotationWorkload: "w"}), ns: "kube-system", allowed: true, skipLabel: "system-namespace"},
		{name: "bad rotate is denied", pod: testPod(map[string]string{inject.AnnotationWorkload: "w", inject.AnnotationRotate: "sometimes"}), ns: "shop",
			message: `seal: seal.dev/rotate="sometimes" is not a known value; fix:`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, ar := r.post(t, PathInject, review(tc.pod, tc.ns))
			if code != http.StatusOK || ar.Response == nil {
				t.Fatalf("status %d, response %+v", code, ar.Response)
			}
			if ar.Response.Allowed != tc.allowed || (len(ar.Response.Patch) > 0) != tc.patch {
				t.Errorf("allowed %v patch %q, want allowed %v patch %v", ar.Response.Allowed, ar.Response.Patch, tc.allowed, tc.patch)
			}
			if tc.message != "" && (ar.Response.Result == nil || !strings.Contains(ar.Response.Result.Message, tc.message)) {
				t.Errorf("result %+v, want message containing %q", ar.Response.Result, tc.message)
			}
		})
	}
	select {
	case e := <-r.events.Events:
		if !strings.Contains(e, ReasonRefused) || !strings.Contains(e, "seal.dev/rotate") {
			t.Errorf("event %q, want %s naming seal.dev/rotate", e, ReasonRefused)
		}
	default:
		t.Error("no Event recorded for the refused pod")
	}
}

func TestBadRequests(t *testing.T) {
	r := start(t, nil)
	t.Run("oversized body", func(t *testing.T) {
		code, _ := r.post(t, PathInject, bytes.Repeat([]byte(" "), 2<<20))
		if code != http.StatusRequestEntityTooLarge {
			t.Errorf("status %d, want 413", code)
		}
	})
	t.Run("oversized chunked body", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, r.url+PathInject, io.MultiReader(strings.NewReader(`{"request":{"object":"`), bytes.NewReader(bytes.Repeat([]byte("a"), 2<<20))))
		req.Header.Set("Content-Type", "application/json")
		resp, err := r.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var ar admissionv1.AdmissionReview
		_ = json.NewDecoder(resp.Body).Decode(&ar)
		resp.Body.Close()
		// controller-runtime answers errors inside the review, with HTTP 200.
		if resp.StatusCode < 400 && (ar.Response == nil || ar.Response.Allowed || ar.Response.Result.Code < 400) {
			t.Errorf("status %d response %+v, want a 4xx", resp.StatusCode, ar.Response)
		}
		r.client.CloseIdleConnections() // the server closes this connection; do not race it
	})
	t.Run("not JSON", func(t *testing.T) {
		_, ar := r.post(t, PathInject, []byte("{nope"))
		if ar.Response == nil || ar.Response.Allowed || ar.Response.Result.Code != http.StatusBadRequest {
			t.Errorf("response %+v, want a 400 result", ar.Response)
		}
	})
	t.Run("YAML is not decoded", func(t *testing.T) {
		_, ar := r.post(t, PathInject, []byte("request:\n  uid: x\n  kind: {kind: Pod}\n"))
		if ar.Response == nil || ar.Response.Allowed || ar.Response.Result.Code != http.StatusBadRequest || !strings.Contains(ar.Response.Result.Message, "not a JSON object") {
			t.Errorf("response %+v, want a 400 saying the body is not a JSON object", ar.Response)
		}
	})
	t.Run("object is not a pod", func(t *testing.T) {
		b := bytes.Replace(review(testPod(nil), "shop"), []byte(`"spec":{`), []byte(`"spec":{"containers":7,`), 1)
		code, ar := r.post(t, PathInject, b)
		if code != http.StatusOK || ar.Response == nil || ar.Response.Allowed || ar.Response.Result.Code != http.StatusBadRequest {
			t.Errorf("status %d response %+v, want a 400 result", code, ar.Response)
		}
	})
	t.Run("no request", func(t *testing.T) {
		_, ar := r.post(t, PathInject, []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`))
		if ar.Response == nil || ar.Response.Allowed || ar.Response.Result.Code != http.StatusBadRequest {
			t.Errorf("response %+v, want a 400 result", ar.Response)
		}
	})
	t.Run("wrong content type", func(t *testing.T) {
		resp, err := r.client.Post(r.url+PathInject, "text/plain", bytes.NewReader(review(testPod(nil), "shop")))
		if err != nil {
			t.Fatal(err)
		}
		var ar admissionv1.AdmissionReview
		_ = json.NewDecoder(resp.Body).Decode(&ar)
		resp.Body.Close()
		if ar.Response == nil || ar.Response.Allowed || ar.Response.Result.Code != http.StatusBadRequest {
			t.Errorf("response %+v, want a 400 result", ar.Response)
		}
	})
	// not JSON, object is not a pod, no request: each counted as an error review.
	if got := counterValue(t, r.reg, "seal_webhook_requests_total", "result", "error"); got < 3 {
		t.Errorf(`seal_webhook_requests_total{result="error"} = %v, want ≥ 3`, got)
	}
}

// counterValue is the counter name{label=value} in reg (0 when absent).
func counterValue(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// TestReviewOfOtherObjects: /inject reads only a Pod's creation; a review of another kind or
// operation is allowed untouched even when its object has no Pod's shape, and a v1beta1
// review is answered as v1beta1 with its uid.
func TestReviewOfOtherObjects(t *testing.T) {
	r := start(t, nil)
	for _, tc := range []struct {
		name, body, wantVersion string
	}{
		{"deployment", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1","kind":{"group":"apps","version":"v1","kind":"Deployment"},"operation":"CREATE","namespace":"shop","object":{"spec":{"containers":7}}}}`, "admission.k8s.io/v1"},
		{"pod update", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1","kind":{"version":"v1","kind":"Pod"},"operation":"UPDATE","namespace":"shop","object":{"metadata":{"annotations":{"seal.dev/workload":"w"}},"spec":{"containers":[{"name":"a"}]}}}}`, "admission.k8s.io/v1"},
		{"v1beta1 delete", `{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"u1","kind":{"version":"v1","kind":"Pod"},"operation":"DELETE","namespace":"shop","object":null}}`, "admission.k8s.io/v1beta1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, ar := r.post(t, PathInject, []byte(tc.body))
			if code != http.StatusOK || ar.Response == nil || !ar.Response.Allowed || len(ar.Response.Patch) != 0 {
				t.Fatalf("status %d response %+v, want allowed without a patch", code, ar.Response)
			}
			if ar.Response.UID != "u1" || ar.APIVersion != tc.wantVersion || ar.Kind != "AdmissionReview" {
				t.Errorf("answer %s/%s uid %q, want %s/AdmissionReview uid u1", ar.APIVersion, ar.Kind, ar.Response.UID, tc.wantVersion)
			}
		})
	}
}

// TestGracefulShutdown: a review in flight when the server is told to stop is still answered.
func TestGracefulShutdown(t *testing.T) {
	entered := make(chan struct{})
	slow := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		close(entered)
		time.Sleep(500 * time.Millisecond)
		_, _ = w.Write([]byte("finished"))
	})
	r := start(t, map[string]http.Handler{"/slow": slow})
	var wg sync.WaitGroup
	var body string
	var reqErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		resp, err := r.client.Post(r.url+"/slow", "application/json", strings.NewReader("{}"))
		if err != nil {
			reqErr = err
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
	}()
	<-entered
	r.cancel()
	wg.Wait()
	if reqErr != nil || body != "finished" {
		t.Errorf("in-flight request: body %q err %v, want finished", body, reqErr)
	}
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Start returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("server did not stop")
	}
	if _, err := r.client.Post(r.url+"/slow", "application/json", strings.NewReader("{}")); err == nil || errors.Is(err, context.Canceled) {
		t.Errorf("request after shutdown: err %v, want a connection error", err)
	}
	r.done <- nil // for the cleanup's stop
}
