package imageadmission

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/seal-dev/seal/internal/verify"
	sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"
)

// Paths where seal-webhook serves the image policy handlers.
const (
	PathPin    = "/pin"
	PathVerify = "/verify"
)

// ExtensionOptions configure the image policy inside seal-webhook.
type ExtensionOptions struct {
	// Namespace is seal-webhook's namespace: never enforced, and where secretRef keys without a
	// namespace are read.
	Namespace string
	// NoMatch is what happens to images no policy matches in enforced namespaces.
	NoMatch verify.NoMatchAction
}

// Extension serves /pin and /verify from seal-webhook (its signature is webhook.Extension's).
// ImagePolicies, ApprovedImages and Namespaces are read from an informer cache; Secrets and
// ServiceAccounts (pull secrets, secretRef keys) are read from the API server when needed and
// never cached, so the webhook does not hold every Secret of the cluster in memory.
func Extension(o ExtensionOptions) func(ctx context.Context, cfg *rest.Config, log *slog.Logger) (map[string]http.Handler, error) {
	return func(ctx context.Context, cfg *rest.Config, log *slog.Logger) (map[string]http.Handler, error) {
		scheme := runtime.NewScheme()
		if err := clientgoscheme.AddToScheme(scheme); err != nil {
			return nil, err
		}
		if err := sealv1.AddToScheme(scheme); err != nil {
			return nil, err
		}
		c, err := cache.New(cfg, cache.Options{Scheme: scheme})
		if err != nil {
			return nil, fmt.Errorf("imageadmission: cache: %w", err)
		}
		cl, err := client.New(cfg, client.Options{Scheme: scheme, Cache: &client.CacheOptions{
			Reader: c, DisableFor: []client.Object{&corev1.Secret{}, &corev1.ServiceAccount{}},
		}})
		if err != nil {
			return nil, fmt.Errorf("imageadmission: client: %w", err)
		}
		for _, obj := range []client.Object{&sealv1.ImagePolicy{}, &sealv1.ApprovedImage{}, &corev1.Namespace{}} {
			if _, err := c.GetInformer(ctx, obj); err != nil {
				return nil, fmt.Errorf("imageadmission: watching %T: %w", obj, err)
			}
		}
		go func() {
			if err := c.Start(ctx); err != nil {
				log.Error("image policy cache stopped", "err", err)
			}
		}()
		syncCtx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if !c.WaitForCacheSync(syncCtx) {
			return nil, fmt.Errorf("imageadmission: the ImagePolicy, ApprovedImage and Namespace caches did not sync within a minute")
		}
		src := verify.ClusterSource{Client: cl}
		v, err := verify.New(verify.Options{Policies: src, Keys: src, Namespace: o.Namespace, NoMatch: o.NoMatch,
			Registerer: crmetrics.Registry, Logger: log})
		if err != nil {
			return nil, err
		}
		pin, check := New(cl, v, Options{SealNamespace: o.Namespace, Logger: log})
		return map[string]http.Handler{
			PathPin:    &admission.Webhook{Handler: pin},
			PathVerify: &admission.Webhook{Handler: check},
		}, nil
	}
}
