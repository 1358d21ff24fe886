package webhook

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// NamespaceLabels returns the labels of a namespace (the injector needs seal.dev/inject).
type NamespaceLabels interface {
	NamespaceLabels(ctx context.Context, name string) (map[string]string, error)
}

// StaticNamespaces serves fixed labels (for tests and benchmarks); unknown namespaces have none.
type StaticNamespaces map[string]map[string]string

// NamespaceLabels implements NamespaceLabels.
func (s StaticNamespaces) NamespaceLabels(_ context.Context, name string) (map[string]string, error) {
	return s[name], nil
}

// namespaceCache reads namespace metadata from a watch-backed cache, and from the API server
// when the cache does not have it yet (a namespace created a moment ago).
type namespaceCache struct {
	cache  cache.Cache
	direct client.Reader
}

// NewNamespaceCache starts a metadata-only cache of namespaces that runs until ctx ends, and
// waits for its first sync.
func NewNamespaceCache(ctx context.Context, cfg *rest.Config) (NamespaceLabels, error) {
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	c, err := cache.New(cfg, cache.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("webhook: namespace cache: %w", err)
	}
	direct, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("webhook: namespace client: %w", err)
	}
	if _, err := c.GetInformer(ctx, nsMeta()); err != nil {
		return nil, fmt.Errorf("webhook: namespace informer: %w", err)
	}
	go func() { _ = c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		return nil, fmt.Errorf("webhook: namespace cache did not sync")
	}
	return &namespaceCache{cache: c, direct: direct}, nil
}

func nsMeta() *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	return m
}

func (n *namespaceCache) NamespaceLabels(ctx context.Context, name string) (map[string]string, error) {
	m := nsMeta()
	err := n.cache.Get(ctx, client.ObjectKey{Name: name}, m)
	if apierrors.IsNotFound(err) {
		m = nsMeta()
		err = n.direct.Get(ctx, client.ObjectKey{Name: name}, m)
	}
	if err != nil {
		return nil, fmt.Errorf("webhook: reading namespace %s: %w", name, err)
	}
	return m.Labels, nil
}
