package route

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
)

// Reconciler keeps the Route of one Service (same namespace and name) in line with its
// annotations.
type Reconciler struct {
	Client client.Client
	// Events, when set, records what happened as Events on the Service (kubectl describe).
	Events recorder.EventRecorder
	// HostsAllowed are the hosts any opted-in namespace may have Routes for, besides the
	// routeHosts of Workloads (seal-webhook --route-hosts-allowed).
	HostsAllowed HostPatterns
}

// recheck is how often an allowed or refused Service is looked at again, so that a host
// removed from a Workload's routeHosts loses its Route (and one added gets it) without an
// event on the Service.
const recheck = 5 * time.Minute

func (r *Reconciler) event(svc *corev1.Service, related runtime.Object, typ, reason, action, note string, args ...any) {
	if r.Events != nil {
		r.Events.Eventf(svc, related, typ, reason, action, note, args...)
	}
}

// Reconcile creates, updates or deletes the Route named after the Service req names.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := slog.With("service", req.String())
	var svc corev1.Service
	if err := r.Client.Get(ctx, req.NamespacedName, &svc); err != nil {
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, nil // the garbage collector removes its Route
		}
		return ctrl.Result{}, fmt.Errorf("route: getting Service %s: %w", req, err)
	}
	existing := newRoute()
	err := r.Client.Get(ctx, req.NamespacedName, existing)
	switch {
	case apierrors.IsNotFound(err):
		existing = nil
	case err != nil:
		return ctrl.Result{}, fmt.Errorf("route: getting Route %s: %w", req, err)
	case !ownedBy(existing, &svc):
		if _, want := svc.Annotations[AnnotationHost]; want {
			log.Warn("route: a Route of this name exists and is not owned by the Service; leaving it alone")
			r.event(&svc, existing, corev1.EventTypeWarning, "RouteNameTaken", "CreateRoute",
				"Route %s exists and is not owned by this Service; not creating the passthrough Route", existing.GetName())
		}
		return ctrl.Result{}, nil
	}

	host, want := svc.Annotations[AnnotationHost]
	var requeue ctrl.Result
	if want && svc.DeletionTimestamp == nil {
		// The controller acts with seal-webhook's rights: only for namespaces that opt in and
		// hosts an admin allowed, never for whoever can annotate a Service.
		reason, note, err := r.refusal(ctx, &svc, host)
		if err != nil {
			return ctrl.Result{}, err
		}
		requeue = ctrl.Result{RequeueAfter: recheck}
		if reason != "" {
			log.Warn("route: refused", "reason", reason, "host", host)
			var related runtime.Object
			if existing != nil {
				related = existing
			}
			r.event(&svc, related, corev1.EventTypeWarning, reason, "CreateRoute", "%s", note)
			want = false // and an existing Route goes
		}
	}
	if !want || svc.DeletionTimestamp != nil {
		if existing == nil {
			return requeue, nil
		}
		if err := r.Client.Delete(ctx, existing, client.Preconditions{UID: ptr(existing.GetUID())}); err != nil && !apierrors.IsNotFound(err) {
			return ctrl.Result{}, fmt.Errorf("route: deleting Route %s: %w", req, err)
		}
		oldHost, _, _ := unstructured.NestedString(existing.Object, "spec", "host")
		log.Info("route: deleted passthrough Route", "host", oldHost)
		r.event(&svc, existing, corev1.EventTypeNormal, "RouteDeleted", "DeleteRoute", "deleted passthrough Route for %s", oldHost)
		return requeue, nil
	}

	spec, err := desiredSpec(&svc, host)
	if err != nil {
		log.Error("route: not creating a Route", "err", err)
		r.event(&svc, nil, corev1.EventTypeWarning, "InvalidAnnotation", "CreateRoute", "%s", err.Error())
		return ctrl.Result{}, nil // bad annotations: wait for the user to fix the Service
	}
	if existing == nil {
		rt := newRoute()
		rt.SetNamespace(svc.Namespace)
		rt.SetName(svc.Name)
		rt.SetLabels(map[string]string{LabelManagedBy: managedBy})
		rt.SetOwnerReferences([]metav1.OwnerReference{ownerRef(&svc)})
		for path, v := range spec {
			if err := unstructured.SetNestedField(rt.Object, v, strings.Split(path, ".")...); err != nil {
				return ctrl.Result{}, fmt.Errorf("route: building Route: %w", err)
			}
		}
		if err := r.Client.Create(ctx, rt); err != nil {
			return ctrl.Result{}, fmt.Errorf("route: creating Route %s: %w", req, err)
		}
		log.Info("route: created passthrough Route", "host", host)
		r.event(&svc, rt, corev1.EventTypeNormal, "RouteCreated", "CreateRoute", "created passthrough Route for %s", host)
		return requeue, nil
	}

	// Set only the fields this controller owns, so defaults the API server or the router add
	// (weight, wildcardPolicy, ...) do not cause an update on every reconcile.
	changed := false
	for path, v := range spec {
		cur, found, _ := unstructured.NestedFieldNoCopy(existing.Object, strings.Split(path, ".")...)
		if found && fmt.Sprint(cur) == fmt.Sprint(v) {
			continue
		}
		if err := unstructured.SetNestedField(existing.Object, v, strings.Split(path, ".")...); err != nil {
			return ctrl.Result{}, fmt.Errorf("route: updating Route: %w", err)
		}
		changed = true
	}
	if _, hasPort := spec["spec.port.targetPort"]; !hasPort {
		if _, found, _ := unstructured.NestedFieldNoCopy(existing.Object, "spec", "port"); found {
			unstructured.RemoveNestedField(existing.Object, "spec", "port")
			changed = true
		}
	}
	if !changed {
		return requeue, nil
	}
	if err := r.Client.Update(ctx, existing); err != nil {
		return ctrl.Result{}, fmt.Errorf("route: updating Route %s: %w", req, err)
	}
	log.Info("route: updated passthrough Route", "host", host)
	r.event(&svc, existing, corev1.EventTypeNormal, "RouteUpdated", "UpdateRoute", "updated passthrough Route for %s", host)
	return requeue, nil
}

// desiredSpec returns the Route fields (dotted path -> value) the Service asks for.
func desiredSpec(svc *corev1.Service, host string) (map[string]any, error) {
	if errs := validation.IsDNS1123Subdomain(host); len(errs) > 0 {
		return nil, fmt.Errorf("route: %s %q is not a valid host name: %s", AnnotationHost, host, strings.Join(errs, "; "))
	}
	spec := map[string]any{
		"spec.host":            host,
		"spec.to.kind":         "Service",
		"spec.to.name":         svc.Name,
		"spec.tls.termination": "passthrough",
	}
	port, err := targetPort(svc)
	if err != nil {
		return nil, err
	}
	if port != nil {
		if port.Type == intstr.Int {
			spec["spec.port.targetPort"] = int64(port.IntVal)
		} else {
			spec["spec.port.targetPort"] = port.StrVal
		}
	}
	return spec, nil
}

// targetPort is the annotation's port, else the Service's first port (its name, else its
// target port, else its port number), else nil for a Service without ports.
func targetPort(svc *corev1.Service) (*intstr.IntOrString, error) {
	if v, ok := svc.Annotations[AnnotationPort]; ok {
		if n, err := strconv.Atoi(v); err == nil {
			if n < 1 || n > 65535 {
				return nil, fmt.Errorf("route: %s %q is not a port number (1-65535)", AnnotationPort, v)
			}
			p := intstr.FromInt32(int32(n))
			return &p, nil
		}
		if errs := validation.IsValidPortName(v); len(errs) > 0 {
			return nil, fmt.Errorf("route: %s %q is not a port name or number: %s", AnnotationPort, v, strings.Join(errs, "; "))
		}
		p := intstr.FromString(v)
		return &p, nil
	}
	if len(svc.Spec.Ports) == 0 {
		return nil, nil
	}
	sp := svc.Spec.Ports[0]
	var p intstr.IntOrString
	switch {
	case sp.Name != "":
		p = intstr.FromString(sp.Name)
	case sp.TargetPort.String() != "0" && sp.TargetPort.String() != "":
		p = sp.TargetPort
	default:
		p = intstr.FromInt32(sp.Port)
	}
	return &p, nil
}

func ownerRef(svc *corev1.Service) metav1.OwnerReference {
	// No blockOwnerDeletion: it would need update rights on services/finalizers where the
	// OwnerReferencesPermissionEnforcement admission plugin runs (OpenShift), for no gain here.
	return metav1.OwnerReference{
		APIVersion: "v1",
		Kind:       "Service",
		Name:       svc.Name,
		UID:        svc.UID,
		Controller: ptr(true),
	}
}

func ownedBy(rt *unstructured.Unstructured, svc *corev1.Service) bool {
	for _, o := range rt.GetOwnerReferences() {
		if o.UID == svc.UID && o.Controller != nil && *o.Controller {
			return true
		}
	}
	return false
}

func ptr[T any](v T) *T { return &v }
