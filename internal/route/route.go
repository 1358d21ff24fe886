package route

import (
	"context"
	"fmt"
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/seal-dev/seal/internal/inject"
)

// Annotations on a Service.
const (
	// AnnotationHost asks for a passthrough Route of this host name.
	AnnotationHost = "seal.dev/passthrough-route"
	// AnnotationPort names the Route's target port (a port name or number); default the
	// Service's first port.
	AnnotationPort = "seal.dev/passthrough-route-port"
	// LabelManagedBy marks the Routes this controller manages.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	managedBy      = "seal"
)

// GVK is the kind of an OpenShift Route.
var GVK = schema.GroupVersionKind{Group: "route.openshift.io", Version: "v1", Kind: "Route"}

// Setup adds the passthrough-route controller to mgr when the API server serves
// route.openshift.io/v1 Routes. When it does not, Setup logs that once and returns nil: the
// controller stays off (it is not started later if the Route API appears; restart to pick it
// up). The manager needs RBAC to get/list/watch Services and to get/list/watch/create/update/
// patch/delete routes.route.openshift.io, and to create events (events.k8s.io) for the Events it
// records on Services.
func Setup(mgr manager.Manager) error { return SetupWithOptions(mgr, Options{}) }

// Options configure the passthrough-route controller.
type Options struct {
	// HostsAllowed are host patterns (see [HostPatterns]) that Services of opted-in namespaces
	// may have Routes for besides the routeHosts of Workloads: seal-webhook
	// --route-hosts-allowed. Checked with [ParseHostPatterns].
	HostsAllowed []string
}

// SetupWithOptions is [Setup] with options. Besides Setup's RBAC the manager needs to
// get/list/watch Namespaces (their opt-in labels) and to list workloads.seal.dev (their
// routeHosts).
func SetupWithOptions(mgr manager.Manager, o Options) error {
	hosts, err := ParseHostPatterns(o.HostsAllowed)
	if err != nil {
		return err
	}
	served, err := Served(mgr.GetConfig())
	if err != nil {
		return err
	}
	if !served {
		slog.Info("route: the API server does not serve route.openshift.io/v1 Routes; passthrough-route controller off")
		return nil
	}
	r := &Reconciler{Client: mgr.GetClient(), Events: mgr.GetEventRecorder("seal-passthrough-route"), HostsAllowed: hosts}
	return ctrl.NewControllerManagedBy(mgr).
		Named("seal-passthrough-route").
		For(&corev1.Service{}, builder.WithPredicates(annotated())).
		Owns(newRoute()).
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.annotatedServicesIn), builder.WithPredicates(optInChanged())).
		Complete(r)
}

// annotatedServicesIn lists the annotated Services of a Namespace whose opt-in changed.
func (r *Reconciler) annotatedServicesIn(ctx context.Context, ns client.Object) []reconcile.Request {
	var svcs corev1.ServiceList
	if err := r.Client.List(ctx, &svcs, client.InNamespace(ns.GetName())); err != nil {
		slog.Error("route: listing Services of a namespace whose labels changed", "namespace", ns.GetName(), "err", err)
		return nil
	}
	var reqs []reconcile.Request
	for _, s := range svcs.Items {
		if _, ok := s.Annotations[AnnotationHost]; ok {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: s.Namespace, Name: s.Name}})
		}
	}
	return reqs
}

// optInChanged lets through Namespace updates that change the labels a namespace opts in with.
func optInChanged() predicate.Predicate {
	return predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return false },
		DeleteFunc:  func(event.DeleteEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
		UpdateFunc: func(e event.UpdateEvent) bool {
			o, n := e.ObjectOld.GetLabels(), e.ObjectNew.GetLabels()
			return o[LabelRoutes] != n[LabelRoutes] || o[inject.LabelInject] != n[inject.LabelInject]
		},
	}
}

// Served reports whether the API server at cfg serves route.openshift.io/v1 Routes.
func Served(cfg *rest.Config) (bool, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return false, fmt.Errorf("route: discovery client: %w", err)
	}
	list, err := dc.ServerResourcesForGroupVersion(GVK.GroupVersion().String())
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("route: discovering %s: %w", GVK.GroupVersion(), err)
	}
	for _, r := range list.APIResources {
		if r.Kind == GVK.Kind {
			return true, nil
		}
	}
	return false, nil
}

// annotated lets through Service events where the annotation is, or was, set. Events of owned
// Routes are not filtered, so a Route whose Service lost the annotation while the controller
// was down is still found (through its owner) and deleted.
func annotated() predicate.Predicate {
	has := func(o interface{ GetAnnotations() map[string]string }) bool {
		_, ok := o.GetAnnotations()[AnnotationHost]
		return ok
	}
	return predicate.Funcs{
		CreateFunc:  func(e event.CreateEvent) bool { return has(e.Object) },
		UpdateFunc:  func(e event.UpdateEvent) bool { return has(e.ObjectOld) || has(e.ObjectNew) },
		DeleteFunc:  func(e event.DeleteEvent) bool { return has(e.Object) },
		GenericFunc: func(e event.GenericEvent) bool { return has(e.Object) },
	}
}

func newRoute() *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(GVK)
	return u
}
