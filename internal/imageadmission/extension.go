package imageadmission

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/seal-dev/seal/internal/verify"
	"github.com/seal-dev/seal/internal/webhook"
	sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"
)

// Paths where seal-webhook serves the image policy handlers.
const (
	PathPin    = "/pin"
	PathVerify = "/verify"
)

// Extension serves /pin and /verify from seal-webhook and keeps each ImagePolicy's Ready
// condition. ImagePolicies, ApprovedImages and Namespaces are read from an informer cache;
// Secrets and ServiceAccounts (pull secrets, secretRef keys) are read from the API server when
// needed and never cached, so the webhook does not hold every Secret of the cluster in memory.
// Flags: --image-policy (default true) and --image-policy-no-match (deny, warn or allow).
func Extension() webhook.Extension {
	enabled := true
	noMatch := string(verify.NoMatchDeny)
	return webhook.Extension{
		Flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&enabled, "image-policy", true, "serve /pin and /verify: only images an ImagePolicy or ApprovedImage approves run in enforced namespaces")
			fs.StringVar(&noMatch, "image-policy-no-match", noMatch, "`action` for images no ImagePolicy matches in enforced namespaces: deny, warn or allow")
		},
		Start: func(ctx context.Context, h webhook.Host) (map[string]http.Handler, error) {
			if !enabled {
				h.Log.Info("image policy off (--image-policy=false)")
				return nil, nil
			}
			scheme := runtime.NewScheme()
			if err := clientgoscheme.AddToScheme(scheme); err != nil {
				return nil, err
			}
			if err := sealv1.AddToScheme(scheme); err != nil {
				return nil, err
			}
			mgr, err := ctrl.NewManager(h.Config, ctrl.Options{
				Scheme:                 scheme,
				Logger:                 logr.FromSlogHandler(h.Log.Handler()),
				Metrics:                metricsserver.Options{BindAddress: "0"},
				HealthProbeBindAddress: "0",
				Client: client.Options{Cache: &client.CacheOptions{
					DisableFor: []client.Object{&corev1.Secret{}, &corev1.ServiceAccount{}},
				}},
			})
			if err != nil {
				return nil, fmt.Errorf("imageadmission: manager: %w", err)
			}
			cl := mgr.GetClient()
			src := verify.ClusterSource{Client: cl}
			v, err := verify.New(verify.Options{Policies: src, Keys: src, Namespace: h.Namespace,
				NoMatch: verify.NoMatchAction(noMatch), Registerer: crmetrics.Registry, Logger: h.Log})
			if err != nil {
				return nil, err
			}
			if err := (&PolicyStatus{Client: cl}).SetupWithManager(mgr); err != nil {
				return nil, err
			}
			for _, obj := range []client.Object{&sealv1.ImagePolicy{}, &sealv1.ApprovedImage{}, &corev1.Namespace{}} {
				if _, err := mgr.GetCache().GetInformer(ctx, obj); err != nil {
					return nil, fmt.Errorf("imageadmission: watching %T: %w (are the seal.dev CRDs installed? --image-policy=false turns the image policy off)", obj, err)
				}
			}
			go func() {
				if err := mgr.Start(ctx); err != nil {
					h.Log.Error("image policy stopped", "err", err)
				}
			}()
			syncCtx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			if !mgr.GetCache().WaitForCacheSync(syncCtx) {
				return nil, fmt.Errorf("imageadmission: the ImagePolicy, ApprovedImage and Namespace caches did not sync within a minute (are the seal.dev CRDs installed?)")
			}
			pin, check := New(cl, v, Options{SealNamespace: h.Namespace, Events: h.Events, Logger: h.Log})
			return map[string]http.Handler{
				PathPin:    &admission.Webhook{Handler: pin},
				PathVerify: &admission.Webhook{Handler: check},
			}, nil
		},
	}
}
