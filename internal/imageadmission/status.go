package imageadmission

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/seal-dev/seal/internal/verify"
	sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"
)

// PolicyStatus reports in each ImagePolicy's status whether the webhook can use it: condition
// Ready is False, with the reason in its message, for a bad glob, PEM key, regexp or trusted
// root (the webhook ignores such a policy, so the images it would cover are denied).
type PolicyStatus struct {
	Client client.Client
}

// SetupWithManager runs the reconciler in mgr.
func (r *PolicyStatus) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).Named("imagepolicy-status").For(&sealv1.ImagePolicy{}).Complete(r)
}

// Reconcile checks one ImagePolicy and writes its Ready condition.
func (r *PolicyStatus) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var p sealv1.ImagePolicy
	if err := r.Client.Get(ctx, req.NamespacedName, &p); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	cond := metav1.Condition{Type: sealv1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Valid",
		Message: "the policy is in force", ObservedGeneration: p.Generation}
	if err := verify.CheckPolicy(&p); err != nil {
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, "Invalid", err.Error()
	}
	before := meta.FindStatusCondition(p.Status.Conditions, sealv1.ConditionReady)
	if before != nil && before.Status == cond.Status && before.Message == cond.Message && p.Status.ObservedGeneration == p.Generation {
		return reconcile.Result{}, nil
	}
	meta.SetStatusCondition(&p.Status.Conditions, cond)
	p.Status.ObservedGeneration = p.Generation
	if err := r.Client.Status().Update(ctx, &p); err != nil {
		return reconcile.Result{}, fmt.Errorf("imageadmission: updating status of ImagePolicy %s: %w", p.Name, err)
	}
	return reconcile.Result{}, nil
}
