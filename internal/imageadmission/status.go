package imageadmission

import (
	"context"
	"fmt"
	"strings"

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
// root (the webhook ignores such a policy, so the images it would cover are denied). Condition
// RegExpsAnchored is False (reason ImplicitlyAnchored) when a keyless issuerRegExp or
// subjectRegExp does not anchor itself with ^…$: it is matched whole, as `^(?:…)$`, which
// may not be what a policy written before wave 2 meant.
type PolicyStatus struct {
	Client client.Client
}

// The condition that warns about keyless identity regexps Seal anchors itself.
const (
	ConditionRegExpsAnchored = "RegExpsAnchored"
	ReasonImplicitlyAnchored = "ImplicitlyAnchored"
	ReasonExplicitlyAnchored = "ExplicitlyAnchored"
)

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
	conds := []metav1.Condition{cond}
	if c, ok := anchoredCondition(&p); ok {
		conds = append(conds, c)
	}
	changed := p.Status.ObservedGeneration != p.Generation
	for _, c := range conds {
		before := meta.FindStatusCondition(p.Status.Conditions, c.Type)
		changed = changed || before == nil || before.Status != c.Status || before.Reason != c.Reason || before.Message != c.Message
		meta.SetStatusCondition(&p.Status.Conditions, c)
	}
	if len(conds) == 1 && meta.RemoveStatusCondition(&p.Status.Conditions, ConditionRegExpsAnchored) {
		changed = true
	}
	if !changed {
		return reconcile.Result{}, nil
	}
	p.Status.ObservedGeneration = p.Generation
	if err := r.Client.Status().Update(ctx, &p); err != nil {
		return reconcile.Result{}, fmt.Errorf("imageadmission: updating status of ImagePolicy %s: %w", p.Name, err)
	}
	return reconcile.Result{}, nil
}

// anchoredCondition is the RegExpsAnchored condition of a policy with keyless identity
// regexps; ok is false when it has none.
func anchoredCondition(p *sealv1.ImagePolicy) (metav1.Condition, bool) {
	has := false
	for _, a := range p.Spec.Authorities {
		if a.Keyless != nil {
			for _, id := range a.Keyless.Identities {
				has = has || id.IssuerRegExp != "" || id.SubjectRegExp != ""
			}
		}
	}
	if !has {
		return metav1.Condition{}, false
	}
	c := metav1.Condition{Type: ConditionRegExpsAnchored, Status: metav1.ConditionTrue, Reason: ReasonExplicitlyAnchored,
		Message: "every keyless identity regexp is anchored with ^…$", ObservedGeneration: p.Generation}
	if un := verify.UnanchoredRegExps(p); len(un) > 0 {
		c.Status, c.Reason = metav1.ConditionFalse, ReasonImplicitlyAnchored
		c.Message = "matched whole, as ^(?:…)$, since wave 2 (before, a match anywhere in the issuer or subject counted): " +
			strings.Join(un, ", ") + "; fix: check the anchored meaning is the one you want and write ^…$ to clear this warning"
	}
	return c, true
}
