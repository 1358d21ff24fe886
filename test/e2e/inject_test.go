package e2e

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/seal-dev/seal/internal/inject"
	"github.com/seal-dev/seal/internal/rot/rottest"
	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/servingcert"
	"github.com/seal-dev/seal/internal/testing/testenv"
	"github.com/seal-dev/seal/internal/webhook"
)

// injectionWebhook runs seal-webhook's server in-process on 127.0.0.1 with its managed serving
// certificate, and registers the chart's injection webhooks (manifests/seal.yaml) pointing at it.
// It returns once the API server really calls the webhook.
func injectionWebhook(t *testing.T, env *testenv.Env, trustDomain string, opts ...func(*inject.Config)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "seal-system"}}); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()

	m, _, err := testenv.WebhookConfigurations(webhook.PathInject)
	if err != nil {
		t.Fatal(err)
	}
	testenv.CallAt(m, nil, fmt.Sprintf("https://127.0.0.1:%d", port), nil) // caBundle: the manager's job
	mwc := *m
	if err := env.Client.Create(ctx, &mwc); err != nil {
		t.Fatalf("creating the MutatingWebhookConfiguration: %v", err)
	}

	mgr := &servingcert.Manager{Client: env.Client, Namespace: "seal-system", DNSNames: []string{"localhost"},
		IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, MutatingConfigs: []string{mwc.Name}, ValidatingConfigs: []string{"seal-webhook"}}
	if err := mgr.Sync(ctx); err != nil {
		t.Fatalf("serving certificate: %v", err)
	}
	cs := kubernetes.NewForConfigOrDie(env.Config)
	broadcaster := record.NewBroadcaster()
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: cs.CoreV1().Events("")})
	skip := true
	whm, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:                 env.Scheme,
		Logger:                 logr.Discard(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: &skip},
		WebhookServer:          webhook.NewServer(webhook.ServerOptions{Host: "127.0.0.1", Port: port, GetCertificate: mgr.GetCertificate}),
	})
	if err != nil {
		t.Fatal(err)
	}
	icfg := inject.Config{Image: "ghcr.io/seal-dev/seal-init:test", TrustDomain: trustDomain, Namespace: "seal-system", Version: "e2e"}
	for _, o := range opts {
		o(&icfg) // e.g. the TPM of attestation tests
	}
	if err := webhook.Setup(whm, webhook.Options{
		Inject:   icfg,
		Events:   broadcaster.NewRecorder(env.Scheme, corev1.EventSource{Component: "seal-webhook"}),
		Registry: prometheus.NewRegistry(),
	}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- whm.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		broadcaster.Shutdown()
		if err := <-done; err != nil {
			t.Errorf("webhook server: %v", err)
		}
	})

	// The managed certificate's CA is in the Secret and patched into every webhook entry.
	var sec corev1.Secret
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "seal-system", Name: "seal-webhook-ca"}, &sec); err != nil {
		t.Fatalf("CA Secret: %v", err)
	}
	if err := env.Client.Get(ctx, client.ObjectKey{Name: mwc.Name}, &mwc); err != nil {
		t.Fatal(err)
	}
	for _, w := range mwc.Webhooks {
		if string(w.ClientConfig.CABundle) != string(sec.Data[servingcert.KeyCACert]) {
			t.Fatalf("webhook %s caBundle is not the managed CA", w.Name)
		}
	}

	// Wait until the API server calls the webhook: a dry-run pod comes back injected.
	probeNS := env.Namespace(t, map[string]string{inject.LabelInject: inject.NamespaceEnabled})
	testenv.Eventually(t, time.Minute, func() error {
		p := appPod(probeNS, "probe", map[string]string{inject.AnnotationWorkload: "probe"}, nil)
		if err := env.Client.Create(ctx, p, client.DryRunAll); err != nil {
			return err
		}
		if p.Annotations[inject.AnnotationStatus] == "" {
			return fmt.Errorf("the API server does not call the webhook yet")
		}
		return nil
	})
}

func appPod(ns, name string, ann, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: ann, Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example.com/shop/app:1"}}},
	}
}

func injectDeployment(ns, name string, ann map[string]string) *appsv1.Deployment {
	replicas := int32(2)
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: ann},
				Spec: corev1.PodSpec{Containers: []corev1.Container{
					{Name: "app", Image: "registry.example.com/shop/app:1"},
					{Name: "proxy", Image: "registry.example.com/shop/proxy:1", Env: []corev1.EnvVar{{Name: "MODE", Value: "edge"}}},
				}},
			},
		},
	}
}

// podsOf waits for the Deployment's pods (made by the real ReplicaSet controller).
func podsOf(t *testing.T, env *testenv.Env, ns, app string, n int) []corev1.Pod {
	t.Helper()
	var pods corev1.PodList
	testenv.Eventually(t, time.Minute, func() error {
		if err := env.Client.List(context.Background(), &pods, client.InNamespace(ns), client.MatchingLabels{"app": app}); err != nil {
			return err
		}
		if len(pods.Items) < n {
			return fmt.Errorf("%d pods, want %d", len(pods.Items), n)
		}
		return nil
	})
	return pods.Items
}

func hasSealMount(c corev1.Container) bool {
	for _, m := range c.VolumeMounts {
		if m.Name == inject.VolumeName && m.MountPath == inject.MountPath && m.ReadOnly {
			return true
		}
	}
	return false
}

func envOf(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

func TestInjection(t *testing.T) {
	env := testenv.Start(t)
	r := rottest.Start(t)
	injectionWebhook(t, env, r.TrustDomain)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	enabled := env.Namespace(t, map[string]string{inject.LabelInject: inject.NamespaceEnabled})
	plain := env.Namespace(t, nil)
	ann := map[string]string{inject.AnnotationWorkload: "payments", inject.AnnotationPeer: "api", inject.AnnotationRouteHosts: "api.apps.example.org"}

	var injected corev1.Pod
	t.Run("deployment in an enabled namespace becomes injected pods", func(t *testing.T) {
		if err := env.Client.Create(ctx, injectDeployment(enabled, "payments", ann)); err != nil {
			t.Fatal(err)
		}
		for _, p := range podsOf(t, env, enabled, "payments", 2) {
			if len(p.Spec.InitContainers) == 0 || p.Spec.InitContainers[0].Name != inject.InitContainerName {
				t.Fatalf("pod %s: init containers %v, want seal-init first", p.Name, p.Spec.InitContainers)
			}
			vol := p.Spec.Volumes[len(p.Spec.Volumes)-1]
			if vol.Name != inject.VolumeName || vol.EmptyDir == nil || vol.EmptyDir.Medium != corev1.StorageMediumMemory {
				t.Errorf("pod %s: volume %+v, want the memory volume %q", p.Name, vol, inject.VolumeName)
			}
			for _, c := range p.Spec.Containers {
				if !hasSealMount(c) {
					t.Errorf("pod %s container %s: no read-only mount of %s", p.Name, c.Name, inject.MountPath)
				}
				if got, want := envOf(c, "SEAL_SPIFFE_ID"), "spiffe://"+r.TrustDomain+"/workload/payments/peer/api"; got != want {
					t.Errorf("pod %s container %s: SEAL_SPIFFE_ID %q, want %q", p.Name, c.Name, got, want)
				}
			}
			if envOf(p.Spec.Containers[1], "MODE") != "edge" {
				t.Errorf("pod %s: the app's own env was lost", p.Name)
			}
			var st inject.Status
			if err := json.Unmarshal([]byte(p.Annotations[inject.AnnotationStatus]), &st); err != nil || st.Workload != "payments" || st.Version != "e2e" {
				t.Errorf("pod %s: status %q (%v)", p.Name, p.Annotations[inject.AnnotationStatus], err)
			}
			injected = p
		}
	})

	t.Run("the same deployment in an unlabelled namespace is untouched", func(t *testing.T) {
		if err := env.Client.Create(ctx, injectDeployment(plain, "payments", ann)); err != nil {
			t.Fatal(err)
		}
		for _, p := range podsOf(t, env, plain, "payments", 2) {
			if len(p.Spec.InitContainers) != 0 || len(p.Spec.Volumes) != 0 || p.Annotations[inject.AnnotationStatus] != "" {
				t.Errorf("pod %s in an unlabelled namespace was injected", p.Name)
			}
		}
	})

	t.Run("a pod that opts out is untouched", func(t *testing.T) {
		p := appPod(enabled, "opted-out", map[string]string{inject.AnnotationWorkload: "payments"}, map[string]string{inject.LabelInject: "false"})
		if err := env.Client.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		if len(p.Spec.InitContainers) != 0 || p.Annotations[inject.AnnotationStatus] != "" {
			t.Errorf("opted-out pod was injected: %v", p.Spec.InitContainers)
		}
	})

	t.Run("a pod that opts in is injected in an unlabelled namespace", func(t *testing.T) {
		p := appPod(plain, "opted-in", map[string]string{inject.AnnotationWorkload: "payments"}, map[string]string{inject.LabelInject: "true"})
		if err := env.Client.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		if len(p.Spec.InitContainers) == 0 || p.Spec.InitContainers[0].Name != inject.InitContainerName {
			t.Errorf("opted-in pod was not injected")
		}
	})

	t.Run("the API server accepts every injection shape", func(t *testing.T) {
		fsGroup := int64(2000)
		shapes := map[string]func(p *corev1.Pod){
			"native sidecar": func(p *corev1.Pod) { p.Annotations[inject.AnnotationRotate] = "true" },
			"egg from image": func(p *corev1.Pod) { p.Annotations[inject.AnnotationEgg] = "image:/etc/seal/egg" },
			"egg from image, renewing": func(p *corev1.Pod) {
				p.Annotations[inject.AnnotationEgg] = "image:/etc/seal/egg"
				p.Annotations[inject.AnnotationRotate] = "true"
			},
			"own init containers, federation, routes, fsGroup": func(p *corev1.Pod) {
				p.Annotations[inject.AnnotationFederatesWith] = "partner.example.org"
				p.Annotations[inject.AnnotationRouteHosts] = "a.apps.example.org,b.apps.example.org"
				p.Annotations[inject.AnnotationEgg] = "secret:eggs/payments-api"
				p.Spec.InitContainers = []corev1.Container{{Name: "migrate", Image: "shop/migrate:1", Env: []corev1.EnvVar{{Name: "A", Value: "b"}}}}
				p.Spec.SecurityContext = &corev1.PodSecurityContext{FSGroup: &fsGroup}
			},
		}
		i := 0
		for name, edit := range shapes {
			i++
			p := appPod(enabled, fmt.Sprintf("shape-%d", i), map[string]string{inject.AnnotationWorkload: "payments"}, nil)
			edit(p)
			if err := env.Client.Create(ctx, p); err != nil {
				t.Errorf("%s: the API server refused the injected pod: %v", name, err)
				continue
			}
			if p.Annotations[inject.AnnotationStatus] == "" {
				t.Errorf("%s: not injected", name)
			}
		}
	})

	t.Run("a bad annotation is rejected at pod creation with its message", func(t *testing.T) {
		p := appPod(enabled, "bad", map[string]string{inject.AnnotationWorkload: "payments", inject.AnnotationRotate: "sometimes"}, nil)
		err := env.Client.Create(ctx, p)
		if err == nil || !strings.Contains(err.Error(), `seal.dev/rotate="sometimes" is not a known value; fix: write "true"`) {
			t.Fatalf("creating the pod: %v, want a denial naming seal.dev/rotate and the fix", err)
		}
	})

	t.Run("a refused deployment gets an Event on its ReplicaSet", func(t *testing.T) {
		if err := env.Client.Create(ctx, injectDeployment(enabled, "refused", map[string]string{inject.AnnotationWorkload: "Not_A_Name"})); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, time.Minute, func() error {
			var evs corev1.EventList
			if err := env.Client.List(ctx, &evs, client.InNamespace(enabled)); err != nil {
				return err
			}
			for _, e := range evs.Items {
				if e.Reason == webhook.ReasonRefused && e.InvolvedObject.Kind == "ReplicaSet" && strings.Contains(e.Message, "seal.dev/workload") {
					return nil
				}
			}
			return fmt.Errorf("no %s Event on the ReplicaSet among %d events", webhook.ReasonRefused, len(evs.Items))
		})
	})

	t.Run("the injected seal-init command line redeems the Egg at a real seal-rot", func(t *testing.T) {
		if injected.Name == "" {
			t.Skip("no injected pod")
		}
		r.CreateWorkload(t, rotapi.Workload{Name: "payments", Peers: []string{"api"}, RouteHosts: []string{"api.apps.example.org"}})
		egg := r.MintEgg(t, "payments", rotapi.MintRequest{Peer: "api", Hostnames: []string{"api.apps.example.org"}})
		if err := env.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: enabled, Name: "seal-egg-payments"},
			Data: map[string][]byte{"egg": []byte(egg)}}); err != nil {
			t.Fatal(err)
		}
		out := runInitContainer(t, env, &injected, testenv.Binary(t, "./cmd/init"))
		checkIdentity(t, out, envOf(injected.Spec.Containers[0], "SEAL_SPIFFE_ID"), "api", "api.apps.example.org")
	})

	t.Run("the injected copy step and image Egg command lines redeem at a real seal-rot", func(t *testing.T) {
		egg := r.MintEgg(t, "payments", rotapi.MintRequest{Peer: "api"})
		p := appPod(enabled, "image-egg", map[string]string{inject.AnnotationWorkload: "payments", inject.AnnotationPeer: "api",
			inject.AnnotationEgg: "image:/etc/seal/egg"}, nil)
		if err := env.Client.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		if len(p.Spec.InitContainers) < 2 || p.Spec.InitContainers[0].Name != inject.CopyContainerName || p.Spec.InitContainers[1].Image != p.Spec.Containers[0].Image {
			t.Fatalf("init containers %+v, want the copy step then seal-init in the app's image", p.Spec.InitContainers)
		}
		dir := filepath.Join(t.TempDir(), "seal")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		eggFile := filepath.Join(t.TempDir(), "egg")
		if err := os.WriteFile(eggFile, []byte(egg), 0o400); err != nil {
			t.Fatal(err)
		}
		bin := testenv.Binary(t, "./cmd/init")
		runContainer(t, env, p, p.Spec.InitContainers[0], bin, dir, nil) // seal-init copy
		if _, err := os.Stat(filepath.Join(dir, "bin", "seal-init")); err != nil {
			t.Fatalf("the copy step did not put seal-init into the volume: %v", err)
		}
		runContainer(t, env, p, p.Spec.InitContainers[1], bin, dir, map[string]string{"/etc/seal/egg": eggFile})
		checkIdentity(t, dir, envOf(p.Spec.Containers[0], "SEAL_SPIFFE_ID"), "api")
	})
}

// runInitContainer runs pod's seal-init container as the kubelet would: its command (the
// image's seal-init replaced by bin), its args, and its env with secretKeyRef resolved from the
// API server; the seal volume's mount path is a temporary directory. It returns that directory.
func runInitContainer(t *testing.T, env *testenv.Env, pod *corev1.Pod, bin string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "seal")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	runContainer(t, env, pod, pod.Spec.InitContainers[0], bin, dir, nil)
	return dir
}

// runContainer runs container c of pod on this machine: the command "/seal-init" (seal-init's
// own image) is bin, the volume's mount path is dir, and paths in files are files of the "image".
func runContainer(t *testing.T, env *testenv.Env, pod *corev1.Pod, c corev1.Container, bin, dir string, files map[string]string) {
	t.Helper()
	var environ []string
	for _, e := range c.Env {
		v := e.Value
		if ref := e.ValueFrom; ref != nil && ref.SecretKeyRef != nil {
			var s corev1.Secret
			if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: pod.Namespace, Name: ref.SecretKeyRef.Name}, &s); err != nil {
				t.Fatalf("the Egg Secret: %v", err)
			}
			v = string(s.Data[ref.SecretKeyRef.Key])
		}
		environ = append(environ, e.Name+"="+v)
	}
	subst := func(a string) string {
		if f, ok := files[a]; ok {
			return f
		}
		return strings.ReplaceAll(a, inject.MountPath, dir)
	}
	exe := subst(c.Command[0])
	if c.Command[0] == "/seal-init" {
		exe = bin
	}
	var args []string
	for _, a := range append(c.Command[1:], c.Args...) {
		args = append(args, subst(a))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Env = environ
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", c.Name, args, err, b)
	}
}

// checkIdentity checks the files seal-init wrote into dir carry spiffeID.
func checkIdentity(t *testing.T, dir, spiffeID string, dnsNames ...string) {
	t.Helper()
	for _, f := range []string{"tls.crt", "tls.key", "ca.crt", "keys.txt"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("seal-init did not write %s: %v", f, err)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "tls.crt"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatal("tls.crt is not PEM")
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if len(cert.URIs) != 1 || cert.URIs[0].String() != spiffeID {
		t.Errorf("certificate URI SANs %v, want the pod's SEAL_SPIFFE_ID %s", cert.URIs, spiffeID)
	}
	for _, n := range dnsNames {
		if !containsString(cert.DNSNames, n) {
			t.Errorf("certificate DNS SANs %v lack %s", cert.DNSNames, n)
		}
	}
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
