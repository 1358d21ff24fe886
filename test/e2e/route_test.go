package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/seal-dev/seal/internal/route"
	"github.com/seal-dev/seal/internal/testing/testenv"
	sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"
)

// startRouteController runs a manager with the passthrough-route controller until the test
// ends and returns a channel that yields the manager's exit error.
func startRouteController(t *testing.T, env *testenv.Env, cacheSyncTimeout time.Duration, o route.Options) <-chan error {
	t.Helper()
	skip := true
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:  env.Scheme,
		Logger:  logr.Discard(),
		Metrics: metricsserver.Options{BindAddress: "0"},
		Controller: config.Controller{
			SkipNameValidation: &skip,
			CacheSyncTimeout:   cacheSyncTimeout,
		},
	})
	if err != nil {
		t.Fatalf("manager: %v", err)
	}
	if err := route.SetupWithOptions(mgr, o); err != nil {
		t.Fatalf("route.SetupWithOptions: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc, done := make(chan error, 1), make(chan struct{})
	go func() { errc <- mgr.Start(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Errorf("manager did not stop")
		}
	})
	return errc
}

func getRoute(ctx context.Context, env *testenv.Env, ns, name string) (*unstructured.Unstructured, error) {
	rt := &unstructured.Unstructured{}
	rt.SetGroupVersionKind(route.GVK)
	return rt, env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, rt)
}

func service(ns, name string, annotations map[string]string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: annotations},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": name},
			Ports: []corev1.ServicePort{
				{Name: "https", Port: 443, TargetPort: intstr.FromInt32(8443)},
				{Name: "metrics", Port: 9090},
			},
		},
	}
}

// routeFields flattens what a user checks on a Route.
func routeFields(rt *unstructured.Unstructured) string {
	host, _, _ := unstructured.NestedString(rt.Object, "spec", "host")
	kind, _, _ := unstructured.NestedString(rt.Object, "spec", "to", "kind")
	name, _, _ := unstructured.NestedString(rt.Object, "spec", "to", "name")
	port, _, _ := unstructured.NestedFieldNoCopy(rt.Object, "spec", "port", "targetPort")
	term, _, _ := unstructured.NestedString(rt.Object, "spec", "tls", "termination")
	return fmt.Sprintf("host=%s to=%s/%s targetPort=%v termination=%s", host, kind, name, port, term)
}

func TestPassthroughRoutes(t *testing.T) {
	env := testenv.Start(t, testenv.Options{ExtraCRDDirs: []string{"testdata/route-crd"}})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if served, err := route.Served(env.Config); err != nil || !served {
		t.Fatalf("route.Served = %v, %v; want true with the Route CRD installed", served, err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- route.Run(runCtx, env.Config) }()
	var stopOnce sync.Once
	stopRun := func() {
		stopOnce.Do(func() {
			stop()
			if err := <-runErr; err != nil {
				t.Errorf("route.Run: %v", err)
			}
		})
	}
	t.Cleanup(stopRun)
	ns := env.Namespace(t, map[string]string{route.LabelRoutes: "enabled"})
	// The hosts an admin allowed: a Workload's routeHosts.
	wl := &sealv1.Workload{ObjectMeta: metav1.ObjectMeta{Name: "route-payments"},
		Spec: sealv1.WorkloadSpec{RouteHosts: []string{"payments.apps.example.com", "pay.apps.example.com"}}}
	if err := env.Client.Create(ctx, wl); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), wl) })

	// Objects the controller must leave alone: a Service without the annotation, and a Route
	// someone else made under the name of an annotated Service.
	if err := env.Client.Create(ctx, service(ns, "plain", nil)); err != nil {
		t.Fatal(err)
	}
	foreign := &unstructured.Unstructured{Object: map[string]any{
		"spec": map[string]any{"host": "theirs.example.com", "to": map[string]any{"kind": "Service", "name": "other"}},
	}}
	foreign.SetGroupVersionKind(route.GVK)
	foreign.SetNamespace(ns)
	foreign.SetName("taken")
	if err := env.Client.Create(ctx, foreign); err != nil {
		t.Fatalf("creating a foreign Route: %v", err)
	}
	if err := env.Client.Create(ctx, service(ns, "taken", map[string]string{route.AnnotationHost: "mine.example.com"})); err != nil {
		t.Fatal(err)
	}

	if err := env.Client.Create(ctx, service(ns, "badhost", map[string]string{route.AnnotationHost: "Not_A_Host"})); err != nil {
		t.Fatal(err)
	}

	svc := service(ns, "payments", map[string]string{route.AnnotationHost: "payments.apps.example.com"})
	if err := env.Client.Create(ctx, svc); err != nil {
		t.Fatal(err)
	}
	waitRoute := func(want string) *unstructured.Unstructured {
		t.Helper()
		var rt *unstructured.Unstructured
		testenv.Eventually(t, time.Minute, func() error {
			var err error
			if rt, err = getRoute(ctx, env, ns, "payments"); err != nil {
				return err
			}
			if got := routeFields(rt); got != want {
				return fmt.Errorf("route: %s, want %s", got, want)
			}
			return nil
		})
		return rt
	}

	t.Run("annotated Service gets a passthrough Route", func(t *testing.T) {
		rt := waitRoute("host=payments.apps.example.com to=Service/payments targetPort=https termination=passthrough")
		refs := rt.GetOwnerReferences()
		if len(refs) != 1 || refs[0].UID != svc.UID || refs[0].Kind != "Service" || refs[0].Controller == nil || !*refs[0].Controller {
			t.Errorf("owner references = %+v, want the Service %s as controller", refs, svc.UID)
		}
	})

	t.Run("annotation change updates the Route", func(t *testing.T) {
		patch := []byte(`{"metadata":{"annotations":{"seal.dev/passthrough-route":"pay.apps.example.com","seal.dev/passthrough-route-port":"8443"}}}`)
		if err := env.Client.Patch(ctx, svc, rawMerge(patch)); err != nil {
			t.Fatal(err)
		}
		waitRoute("host=pay.apps.example.com to=Service/payments targetPort=8443 termination=passthrough")
	})

	t.Run("annotation removed deletes the Route", func(t *testing.T) {
		patch := []byte(`{"metadata":{"annotations":{"seal.dev/passthrough-route":null,"seal.dev/passthrough-route-port":null}}}`)
		if err := env.Client.Patch(ctx, svc, rawMerge(patch)); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, time.Minute, func() error {
			if _, err := getRoute(ctx, env, ns, "payments"); !apierrors.IsNotFound(err) {
				return fmt.Errorf("route still there (err %v)", err)
			}
			return nil
		})
	})

	t.Run("Service deleted garbage-collects the Route", func(t *testing.T) {
		patch := []byte(`{"metadata":{"annotations":{"seal.dev/passthrough-route":"payments.apps.example.com"}}}`)
		if err := env.Client.Patch(ctx, svc, rawMerge(patch)); err != nil {
			t.Fatal(err)
		}
		waitRoute("host=payments.apps.example.com to=Service/payments targetPort=https termination=passthrough")
		if err := env.Client.Delete(ctx, svc); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, time.Minute, func() error {
			if _, err := getRoute(ctx, env, ns, "payments"); !apierrors.IsNotFound(err) {
				return fmt.Errorf("route still there after its Service was deleted (err %v)", err)
			}
			return nil
		})
	})

	t.Run("others are left alone", func(t *testing.T) {
		if _, err := getRoute(ctx, env, ns, "plain"); !apierrors.IsNotFound(err) {
			t.Errorf("Service without the annotation: Route get err = %v, want NotFound", err)
		}
		rt, err := getRoute(ctx, env, ns, "taken")
		if err != nil {
			t.Fatal(err)
		}
		if got := routeFields(rt); got != "host=theirs.example.com to=Service/other targetPort=<nil> termination=" || len(rt.GetOwnerReferences()) != 0 {
			t.Errorf("foreign Route changed: %s, owners %v", got, rt.GetOwnerReferences())
		}
		if _, err := getRoute(ctx, env, ns, "badhost"); !apierrors.IsNotFound(err) {
			t.Errorf("Service with an invalid host: Route get err = %v, want NotFound", err)
		}
	})

	t.Run("problems are Events on the Service", func(t *testing.T) {
		for svcName, reason := range map[string]string{"taken": "RouteNameTaken", "badhost": "InvalidAnnotation", "payments": "RouteCreated"} {
			waitEvent(ctx, t, env, ns, svcName, reason)
		}
	})

	t.Run("only namespaces that opt in get Routes", func(t *testing.T) {
		other := env.Namespace(t, nil)
		if err := env.Client.Create(ctx, service(other, "payments", map[string]string{route.AnnotationHost: "payments.apps.example.com"})); err != nil {
			t.Fatal(err)
		}
		waitEvent(ctx, t, env, other, "payments", route.ReasonNamespaceNotOptedIn)
		if _, err := getRoute(ctx, env, other, "payments"); !apierrors.IsNotFound(err) {
			t.Fatalf("namespace without opt-in: Route get err = %v, want NotFound", err)
		}
		setLabel := func(v any) {
			t.Helper()
			patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]any{"seal.dev/inject": v}}})
			if err := env.Client.Patch(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: other}}, rawMerge(patch)); err != nil {
				t.Fatal(err)
			}
		}
		setLabel("enabled") // an injected namespace may have Routes too
		testenv.Eventually(t, time.Minute, func() error {
			_, err := getRoute(ctx, env, other, "payments")
			return err
		})
		setLabel(nil) // opting out takes the Route away
		testenv.Eventually(t, time.Minute, func() error {
			if _, err := getRoute(ctx, env, other, "payments"); !apierrors.IsNotFound(err) {
				return fmt.Errorf("route still there after the namespace opted out (err %v)", err)
			}
			return nil
		})
	})

	t.Run("only hosts a Workload allows get Routes", func(t *testing.T) {
		if err := env.Client.Create(ctx, service(ns, "evil", map[string]string{route.AnnotationHost: "login.bank.example.com"})); err != nil {
			t.Fatal(err)
		}
		waitEvent(ctx, t, env, ns, "evil", route.ReasonHostNotAllowed)
		if _, err := getRoute(ctx, env, ns, "evil"); !apierrors.IsNotFound(err) {
			t.Fatalf("host in no Workload's routeHosts: Route get err = %v, want NotFound", err)
		}
		// A Service that had a Route and now asks for a host nobody allowed loses it.
		svc := service(ns, "moving", map[string]string{route.AnnotationHost: "pay.apps.example.com"})
		if err := env.Client.Create(ctx, svc); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, time.Minute, func() error {
			_, err := getRoute(ctx, env, ns, "moving")
			return err
		})
		if err := env.Client.Patch(ctx, svc, rawMerge([]byte(`{"metadata":{"annotations":{"seal.dev/passthrough-route":"login.bank.example.com"}}}`))); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, time.Minute, func() error {
			if _, err := getRoute(ctx, env, ns, "moving"); !apierrors.IsNotFound(err) {
				return fmt.Errorf("route still there for a host nobody allowed (err %v)", err)
			}
			return nil
		})
	})

	t.Run("hosts in the allow-list get Routes", func(t *testing.T) {
		stopRun()
		startRouteController(t, env, 0, route.Options{HostsAllowed: []string{"*.allowed.example.com"}})
		if err := env.Client.Create(ctx, service(ns, "listed", map[string]string{route.AnnotationHost: "shop.allowed.example.com"})); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, time.Minute, func() error {
			_, err := getRoute(ctx, env, ns, "listed")
			return err
		})
		waitEvent(ctx, t, env, ns, "evil", route.ReasonHostNotAllowed) // still refused
		if _, err := getRoute(ctx, env, ns, "evil"); !apierrors.IsNotFound(err) {
			t.Errorf("host outside the allow-list: Route get err = %v, want NotFound", err)
		}
	})
}

// waitEvent waits for an Event of reason about Service ns/name.
func waitEvent(ctx context.Context, t *testing.T, env *testenv.Env, ns, name, reason string) {
	t.Helper()
	testenv.Eventually(t, time.Minute, func() error {
		var events eventsv1.EventList
		if err := env.Client.List(ctx, &events, client.InNamespace(ns)); err != nil {
			return err
		}
		var seen []string
		for _, e := range events.Items {
			if e.Regarding.Kind == "Service" && e.Regarding.Name == name {
				if e.Reason == reason {
					return nil
				}
				seen = append(seen, e.Reason)
			}
		}
		return fmt.Errorf("no %s event on Service %s/%s (saw %v)", reason, ns, name, seen)
	})
}

// TestPassthroughRoutesOffWithoutRouteAPI: where the Route API is not served, Setup adds no
// controller. Had it added one, its Route watch could never sync and the manager would fail
// after the cache-sync timeout; the manager must still be running well after that.
func TestPassthroughRoutesOffWithoutRouteAPI(t *testing.T) {
	env := testenv.Start(t, testenv.Options{NoControllerManager: true})
	if served, err := route.Served(env.Config); err != nil || served {
		t.Fatalf("route.Served = %v, %v; want false without the Route CRD", served, err)
	}
	const syncTimeout = 3 * time.Second
	errc := startRouteController(t, env, syncTimeout, route.Options{})
	ns := env.Namespace(t, nil)
	if err := env.Client.Create(context.Background(), service(ns, "payments", map[string]string{route.AnnotationHost: "payments.apps.example.com"})); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if err == nil {
			err = errors.New("exited without error")
		}
		t.Fatalf("manager stopped: %v", err)
	case <-time.After(3 * syncTimeout):
	}
}

func rawMerge(b []byte) client.Patch { return client.RawPatch(types.MergePatchType, b) }
