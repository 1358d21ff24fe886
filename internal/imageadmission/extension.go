package imageadmission

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/seal-dev/seal/internal/verify"
	"github.com/seal-dev/seal/internal/webhook"
	sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"
)

// Paths where seal-webhook serves the image policy handlers.
const (
	PathPin    = "/pin"
	PathVerify = "/verify"
)

// SetupOptions configure Setup.
type SetupOptions struct {
	// Options tune the handlers; Events defaults to the manager's recorder for
	// webhook.EventSource.
	Options
	// NoMatch is what happens to images no ImagePolicy matches in enforced namespaces
	// (seal-webhook's --image-policy-no-match; default deny).
	NoMatch verify.NoMatchAction
	// PolicyReports writes each enforced namespace's warn-mode and denied images to its
	// wgpolicyk8s.io/v1alpha2 PolicyReport seal-image-policy (the CRD must be installed).
	PolicyReports bool
	// ScanInterval, when positive, checks the running pods of the enforced namespaces this
	// often and reports what the policies in force would deny (needs PolicyReports).
	ScanInterval time.Duration
}

// Setup serves /pin and /verify on mgr's webhook server (which must come from
// webhook.NewServer) and keeps each ImagePolicy's Ready condition. ImagePolicies,
// ApprovedImages and Namespaces are read from mgr's cache (the Namespace informer is the one
// the injector uses too); Secrets and ServiceAccounts (pull secrets, secretRef keys) are read
// from the API server when needed and never cached, so the webhook does not hold every Secret
// of the cluster in memory. Setup fails when the seal.dev CRDs are not served.
func Setup(mgr manager.Manager, o SetupOptions) error {
	if err := webhook.CheckServer(mgr); err != nil {
		return err
	}
	if o.NoMatch == "" {
		o.NoMatch = verify.NoMatchDeny
	}
	if o.Events == nil {
		//lint:ignore SA1019 the handlers record core/v1 Events (record.EventRecorder)
		o.Events = mgr.GetEventRecorderFor(webhook.EventSource) //nolint:staticcheck
	}
	// Ask for the informers now: the manager then syncs them before it reports ready, and a
	// missing CRD fails here.
	for _, obj := range []client.Object{&sealv1.ImagePolicy{}, &sealv1.ApprovedImage{}, &corev1.Namespace{}} {
		if _, err := mgr.GetCache().GetInformer(context.Background(), obj); err != nil {
			return fmt.Errorf("imageadmission: watching %T: %w (are the seal.dev CRDs installed? --image-policy=false turns the image policy off)", obj, err)
		}
	}
	if err := verify.IndexApproved(context.Background(), mgr.GetFieldIndexer()); err != nil {
		return fmt.Errorf("imageadmission: indexing ApprovedImages: %w", err)
	}
	r := uncachedSecrets{cached: mgr.GetClient(), direct: mgr.GetAPIReader()}
	src := verify.ClusterSource{Client: r, Indexed: true}
	v, err := verify.New(verify.Options{Policies: src, Keys: src, Namespace: o.SealNamespace,
		NoMatch: o.NoMatch, Registerer: crmetrics.Registry, Logger: o.Logger})
	if err != nil {
		return err
	}
	if err := (&PolicyStatus{Client: mgr.GetClient()}).SetupWithManager(mgr); err != nil {
		return err
	}
	var reports *Reports
	if o.PolicyReports {
		reports = NewReports(ReportsOptions{Client: mgr.GetClient(), Logger: o.Logger})
		if err := mgr.Add(reports); err != nil {
			return err
		}
	}
	audit := NewAudit(AuditOptions{Events: o.Events, Reports: reports, Reader: mgr.GetAPIReader(),
		Registerer: crmetrics.Registry, Logger: o.Logger})
	if err := mgr.Add(audit); err != nil {
		return err
	}
	o.Audit = audit
	if o.ScanInterval > 0 {
		if reports == nil {
			return fmt.Errorf("imageadmission: the scan of running pods (--scan-interval) writes PolicyReports: it needs --policy-reports")
		}
		if err := mgr.Add(&Scanner{Client: r, Verifier: v, Reports: reports, Interval: o.ScanInterval,
			SealNamespace: o.SealNamespace, Logger: o.Logger}); err != nil {
			return err
		}
	}
	pin, check := New(r, v, o.Options)
	// webhook.Admission reads the review in one pass (the 76 KB pod case of issue 17).
	mgr.GetWebhookServer().Register(PathPin, webhook.Admission(pin, o.Logger))
	mgr.GetWebhookServer().Register(PathVerify, webhook.Admission(check, o.Logger))
	return nil
}

// uncachedSecrets reads Secrets and ServiceAccounts from the API server and everything else
// from the cache: a Get through a manager's client would start a cluster-wide informer.
type uncachedSecrets struct {
	cached, direct client.Reader
}

func (r uncachedSecrets) reader(obj any) client.Reader {
	switch obj.(type) {
	case *corev1.Secret, *corev1.SecretList, *corev1.ServiceAccount, *corev1.ServiceAccountList,
		*corev1.PodList: // the scan lists Pods a namespace at a time: no cluster-wide Pod informer
		return r.direct
	}
	return r.cached
}

func (r uncachedSecrets) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	return r.reader(obj).Get(ctx, key, obj, opts...)
}

func (r uncachedSecrets) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	return r.reader(list).List(ctx, list, opts...)
}
