package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seal-dev/seal/internal/inject"
	"github.com/seal-dev/seal/internal/servingcert"
	"github.com/seal-dev/seal/internal/testing/testenv"
	"github.com/seal-dev/seal/internal/verify/verifytest"
	sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"
)

// TestWebhookOutage runs two real seal-webhook processes behind a round-robin front, registered
// with the real API server by the chart's webhook configurations (failurePolicy: Fail), and
// breaks things under a stream of pod creations:
//
//  0. with no fault, pods are created at SEAL_OUTAGE_RATE a second in a namespace no webhook
//     selects and in an injected one: what the API server sustains here, alone and with Seal;
//  1. while pods are created at SEAL_OUTAGE_RATE a second (default 30, for 6 s; make
//     chaos-webhook: 500 for 30 s), the replica the API server is calling stops on SIGTERM (a
//     rolling update, an eviction): no create fails; then it is killed (SIGKILL) just after a
//     ReplicaSet is scaled up: only reviews in flight on it fail, with the API server's "failed
//     calling webhook", the ReplicaSet's controller retries its own and ends with every pod;
//     every admitted pod is injected;
//  2. the registry stops: an image verified before keeps being admitted (cache hit), an image
//     never verified is denied where a policy enforces and admitted with a warning where it
//     warns;
//  3. both replicas are down: pods in namespaces that opted in (injection or image policy) are
//     refused with the API server's "failed calling webhook" message, pods elsewhere are
//     created; after a restart creates succeed again.
func TestWebhookOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("runs seal-webhook processes against a real API server")
	}
	rate, dur := 30, 6*time.Second
	if v := os.Getenv("SEAL_OUTAGE_RATE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("SEAL_OUTAGE_RATE=%q: want pod creations a second", v)
		}
		rate, dur = n, 30*time.Second
	}
	env := testenv.Start(t)
	ctx := context.Background()
	bin := testenv.Binary(t, "./cmd/webhook")

	reg := verifytest.NewRegistry(t)
	key := verifytest.NewKey(t)
	initImg, appImg := reg.Push(t, "seal/init", "v1"), reg.Push(t, "shop/app", "v1")
	for name, img := range map[string]string{"init": initImg.String(), "app": appImg.String()} {
		if err := env.Client.Create(ctx, &sealv1.ApprovedImage{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: sealv1.ApprovedImageSpec{Image: img}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []struct {
		name, glob string
		mode       sealv1.PolicyMode
	}{{"team", "/team/**", sealv1.ModeEnforce}, {"lax", "/lax/**", sealv1.ModeWarn}} {
		if err := env.Client.Create(ctx, &sealv1.ImagePolicy{ObjectMeta: metav1.ObjectMeta{Name: p.name}, Spec: sealv1.ImagePolicySpec{
			Images: []sealv1.ImagePattern{{Glob: reg.Host + p.glob}}, Mode: p.mode,
			Authorities: []sealv1.Authority{{Name: "release", Key: &sealv1.KeyRef{Data: key.PublicPEM}}},
		}}); err != nil {
			t.Fatal(err)
		}
	}

	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "seal-system"}}); err != nil {
		t.Fatal(err)
	}
	certDir := filepath.Join(t.TempDir(), "certs") // one Secret mounted in both replicas
	caPEM, err := servingcert.WriteFiles(certDir, []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)}, time.Now(), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"--cert-dir", certDir, "--kubeconfig", env.Kubeconfig, "--namespace", "seal-system",
		"--mutating-config-name=", "--validating-config-name=", "--init-image", initImg.String(),
		"--trust-domain", "outage.example.org", "--shutdown-grace", "1s"}
	a, b := startWebhookProc(t, bin, "a", args...), startWebhookProc(t, bin, "b", args...)
	front := startFront(t, a.addr, b.addr)
	m, v, err := testenv.WebhookConfigurations()
	if err != nil {
		t.Fatal(err)
	}
	testenv.CallAt(m, v, "https://"+front.addr(), caPEM)
	for _, o := range []client.Object{m, v} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}

	injectNS := env.Namespace(t, map[string]string{sealv1.LabelInject: sealv1.NamespaceInjectEnabled})
	enforceNS := env.Namespace(t, map[string]string{sealv1.LabelEnforce: "true"})
	plainNS := env.Namespace(t, nil)
	pod := func(ns, image string, labels map[string]string) *corev1.Pod {
		p := appPod(ns, "", map[string]string{inject.AnnotationWorkload: "shop"}, labels)
		p.GenerateName = "p-"
		p.Spec.Containers[0].Image = image
		return p
	}
	testenv.Eventually(t, time.Minute, func() error {
		p := pod(injectNS, appImg.String(), nil)
		if err := env.Client.Create(ctx, p, client.DryRunAll); err != nil {
			return err
		}
		if p.Annotations[inject.AnnotationStatus] == "" {
			return fmt.Errorf("the API server does not call the webhooks yet")
		}
		return nil
	})

	// A client without client-side rate limit, as many controllers together are.
	cfg := rest.CopyConfig(env.Config)
	cfg.QPS, cfg.Burst = -1, 0
	var warnMu sync.Mutex
	var warnings []string
	cfg.WarningHandler = warnFunc(func(msg string) { warnMu.Lock(); warnings = append(warnings, msg); warnMu.Unlock() })
	fast, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	createInject := func(ctx context.Context, _ int) error {
		return fast.Create(ctx, pod(injectNS, appImg.String(), nil))
	}
	report := func(name string, r loadResult) {
		t.Logf("outage: %s: %s; connections a/b %d/%d; load %s", name, r, front.conns[0].Load(), front.conns[1].Load(), loadAvg())
		for msg, n := range r.failures {
			t.Logf("outage: %s: %d× %s", name, n, msg)
		}
	}

	replicas := []*webhookProc{a, b}
	faultRate := rate // lowered below to what the API server sustains through the webhooks
	t.Run("rate without a fault", func(t *testing.T) {
		// What this machine's API server admits at the rate asked for, with no webhook (a
		// namespace none selects) and through Seal's webhooks, and the CPU each create costs
		// the webhooks, the API server and the whole machine: the ceiling of the fault runs.
		createPlain := func(ctx context.Context, _ int) error { return fast.Create(ctx, pod(plainNS, appImg.String(), nil)) }
		apiPID, err := env.APIServerPID()
		if err != nil {
			t.Fatal(err)
		}
		cpu := func() (webhooks, api, machine time.Duration) {
			for _, w := range []*webhookProc{a, b} {
				d, err := testenv.ProcCPU(w.cmd.Process.Pid)
				if err != nil {
					t.Fatal(err)
				}
				webhooks += d
			}
			var err1, err2 error
			api, err1 = testenv.ProcCPU(apiPID)
			machine, err2 = testenv.MachineCPU()
			if err := errors.Join(err1, err2); err != nil {
				t.Fatal(err)
			}
			return webhooks, api, machine
		}
		for _, c := range []struct {
			name    string
			create  func(context.Context, int) error
			webhook bool
		}{{"API server alone (no webhook selects the namespace)", createPlain, false}, {"through both replicas (injection and image policy)", createInject, true}} {
			w0, api0, m0 := cpu()
			r := createAtRate(rate, dur/2, c.create, nil)
			w1, api1, m1 := cpu()
			report(c.name, r)
			if r.ok > 0 {
				per := func(d time.Duration) int64 { return d.Microseconds() / int64(r.ok) }
				t.Logf("outage: %s: CPU per create: webhooks %d µs, kube-apiserver %d µs, whole machine %d µs", c.name, per(w1-w0), per(api1-api0), per(m1-m0))
			}
			// Above what the API server sustains, creates time out in it (logged above); a
			// failed webhook call with no fault would be Seal's.
			for msg, n := range r.failures {
				if strings.Contains(msg, "webhook") {
					t.Errorf("%s: %d creates failed in a webhook with no fault: %s", c.name, n, msg)
				}
			}
			// The faults must be judged at a rate the API server keeps up with: above it,
			// creates queue in the API server and time out whatever the webhooks do.
			if c.webhook && (r.behind > 0 || r.ok < r.sent) {
				sustained := float64(r.ok) / r.took.Seconds()
				faultRate = max(1, int(0.8*sustained))
				t.Logf("outage: the API server did not keep up with %d creates/s through the webhooks (%d sent over a second late, %d failed; %.0f/s done): the faults run at %d/s",
					rate, r.behind, r.sent-r.ok, sustained, faultRate)
			}
		}
	})

	t.Run("one replica stops", func(t *testing.T) {
		// A ReplicaSet is scaled up as the replica is killed: creates of its pods that fail are
		// retried by its controller, so the workload loses no pod.
		rs := outageReplicaSet(injectNS, appImg.String())
		if err := env.Client.Create(ctx, rs); err != nil {
			t.Fatal(err)
		}
		rsPods := int32(min(faultRate, 60))
		// The fault hits the replica the API server is sending reviews to.
		for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
			var victim *webhookProc
			scaled := make(chan error, 1)
			r := createAtRate(faultRate, dur, createInject, func() {
				if sig == syscall.SIGKILL {
					// Scaled in its own goroutine, so that the kill comes 100 ms after the
					// fault's start however slow the API server is (the 3 s window counts from
					// there), while the ReplicaSet's controller starts creating pods.
					go func() {
						pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
						defer cancel()
						scale := client.RawPatch(types.MergePatchType, fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, rsPods))
						var err error
						for err = env.Client.Patch(pctx, rs.DeepCopy(), scale); err != nil && pctx.Err() == nil; err = env.Client.Patch(pctx, rs.DeepCopy(), scale) {
							time.Sleep(200 * time.Millisecond) // the patch itself may meet the dying replica
						}
						scaled <- err
					}()
					time.Sleep(100 * time.Millisecond)
				}
				victim = replicas[front.busiest()]
				victim.stop(t, sig)
			})
			if sig == syscall.SIGKILL {
				if err := <-scaled; err != nil {
					t.Fatalf("scaling ReplicaSet %s: %v", rs.Name, err)
				}
			}
			report(fmt.Sprintf("%v to the busy replica of two", sig), r)
			failed := r.sent - r.ok
			switch {
			case sig == syscall.SIGTERM && failed > 0:
				// seal-webhook serves --shutdown-grace, then drains: nothing in flight is lost.
				t.Errorf("%d of %d creates failed while one replica of two stopped on SIGTERM, want none", failed, r.sent)
			case sig == syscall.SIGKILL && r.late > 0:
				// Reviews in flight on the killed process, or sent on its connections as it died,
				// fail (the API server does not retry a webhook POST); every later one must reach
				// the other replica.
				t.Errorf("%d creates started more than %s after one replica of two was killed failed, want none (%d failed in all)", r.late, faultWindow, failed)
			}
			for msg := range r.failures {
				if !strings.Contains(msg, "failed calling webhook") {
					t.Errorf("a create failed for another reason than the killed replica: %s", msg)
				}
			}
			victim.start(t)
		}
		// SIGKILL fails the reviews in flight, and the API server does not retry them; the
		// ReplicaSet's controller does: every pod it wanted exists, injected (checked below).
		testenv.Eventually(t, 2*time.Minute, func() error {
			var got appsv1.ReplicaSet
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(rs), &got); err != nil {
				return err
			}
			if got.Status.Replicas != rsPods {
				return fmt.Errorf("ReplicaSet %s has %d of %d pods", rs.Name, got.Status.Replicas, rsPods)
			}
			return nil
		})
		var events corev1.EventList
		if err := env.Client.List(ctx, &events, client.InNamespace(injectNS)); err != nil {
			t.Fatal(err)
		}
		failedCreates := 0
		for _, e := range events.Items {
			if e.InvolvedObject.Name == rs.Name && e.Reason == "FailedCreate" {
				failedCreates += int(e.Count)
				t.Logf("outage: ReplicaSet event: %d× %s", e.Count, e.Message)
			}
		}
		t.Logf("outage: ReplicaSet scaled to %d as one replica was killed: %d creates failed and were retried by its controller, %d of %d pods exist", rsPods, failedCreates, rsPods, rsPods)
		// failurePolicy: Fail: no pod got in without its identity.
		var pods corev1.PodList
		if err := env.Client.List(ctx, &pods, client.InNamespace(injectNS)); err != nil {
			t.Fatal(err)
		}
		for _, p := range pods.Items {
			if p.Annotations[inject.AnnotationStatus] == "" || len(p.Spec.InitContainers) == 0 {
				t.Errorf("pod %s was admitted without injection", p.Name)
			}
		}
		t.Logf("outage: %d pods in the injected namespace, all injected", len(pods.Items))
	})

	t.Run("registry down", func(t *testing.T) {
		// Each replica has its own verification cache: with one serving, "verified before"
		// means verified by the replica that answers next.
		a.stop(t, syscall.SIGTERM)
		hit, miss, laxMiss := reg.Push(t, "team/app", "v1"), reg.Push(t, "team/other", "v1"), reg.Push(t, "lax/app", "v1")
		key.SignBundle(t, hit)
		key.SignBundle(t, miss)
		key.SignBundle(t, laxMiss)
		testenv.Eventually(t, 30*time.Second, func() error { // the policies reach the webhook's cache
			return env.Client.Create(ctx, pod(enforceNS, hit.String(), nil))
		})
		reg.Close()
		if err := fast.Create(ctx, pod(enforceNS, hit.String(), nil)); err != nil {
			t.Errorf("an image verified before the registry went down was refused (cache hit expected): %v", err)
		}
		err := fast.Create(ctx, pod(enforceNS, miss.String(), nil))
		t.Logf("outage: registry down, enforce, never verified: %v", err)
		if err == nil || !strings.Contains(err.Error(), "registry unreachable") || !strings.Contains(err.Error(), "seal image policy") {
			t.Errorf("an image never verified, registry down, enforced: err = %v, want a refusal naming the unreachable registry", err)
		}
		warnMu.Lock()
		warnings = nil
		warnMu.Unlock()
		if err := fast.Create(ctx, pod(enforceNS, laxMiss.String(), nil)); err != nil {
			t.Errorf("an image a warn-mode policy covers, registry down: %v, want it admitted with a warning", err)
		}
		warnMu.Lock()
		got := strings.Join(warnings, "\n")
		warnMu.Unlock()
		t.Logf("outage: registry down, warn, never verified: admitted, warnings %q", got)
		if !strings.Contains(got, "registry unreachable") {
			t.Errorf("warnings %q, want one naming the unreachable registry", got)
		}
	})

	t.Run("both replicas down", func(t *testing.T) {
		a.stop(t, syscall.SIGKILL) // already stopped unless registry down was skipped
		b.stop(t, syscall.SIGKILL)
		for _, c := range []struct {
			name, ns string
			labels   map[string]string
			want     string // "" : created
		}{
			{"injected namespace", injectNS, nil, `failed calling webhook "inject-namespace.seal.dev"`},
			{"opted-out pod in an injected namespace (image policy applies)", injectNS, map[string]string{sealv1.LabelInject: "false"}, `failed calling webhook "pin-inject.seal.dev"`},
			{"enforced namespace", enforceNS, nil, `failed calling webhook "pin-enforce.seal.dev"`},
			{"pod asking for injection elsewhere", plainNS, map[string]string{sealv1.LabelInject: "true"}, `failed calling webhook "inject-pod.seal.dev"`},
			{"namespace without Seal labels", plainNS, nil, ""},
			{"kube-system", "kube-system", map[string]string{sealv1.LabelInject: "true"}, ""},
		} {
			err := fast.Create(ctx, pod(c.ns, appImg.String(), c.labels))
			t.Logf("outage: both down, %s: %v", c.name, err)
			switch {
			case c.want == "" && err != nil:
				t.Errorf("%s: %v, want the pod created (the webhooks do not select it)", c.name, err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
			}
		}
		a.start(t)
		b.start(t)
		testenv.Eventually(t, 30*time.Second, func() error { return fast.Create(ctx, pod(injectNS, appImg.String(), nil)) })
		r := createAtRate(faultRate, 2*time.Second, createInject, nil)
		report("after restart", r)
		if r.ok != r.sent {
			t.Errorf("after both replicas restarted, %d of %d creates failed", r.sent-r.ok, r.sent)
		}
	})
}

// outageReplicaSet is a ReplicaSet of no pods yet in ns, its pods asking for injection.
func outageReplicaSet(ns, image string) *appsv1.ReplicaSet {
	labels := map[string]string{"app": "outage-rs"}
	zero := int32(0)
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "outage-rs"},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: &zero,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: map[string]string{inject.AnnotationWorkload: "shop"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}},
			},
		},
	}
}

type warnFunc func(string)

func (f warnFunc) HandleWarningHeader(_ int, _ string, msg string) { f(msg) }
