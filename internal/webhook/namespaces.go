package webhook

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
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

// CachedNamespaces reads Namespaces from cached (a manager's cache, whose Namespace informer
// every feature of seal-webhook shares), and from direct (the API server) when the cache does
// not have the namespace yet (one created a moment ago).
func CachedNamespaces(cached, direct client.Reader) NamespaceLabels {
	return &namespaceCache{cache: cached, direct: direct}
}

type namespaceCache struct {
	cache, direct client.Reader
}

// NamespaceLabels returns the cached object's own labels, not a copy (a deep copy of the
// Namespace per review): callers only read them.
func (n *namespaceCache) NamespaceLabels(ctx context.Context, name string) (map[string]string, error) {
	var ns corev1.Namespace
	err := n.cache.Get(ctx, client.ObjectKey{Name: name}, &ns, client.UnsafeDisableDeepCopy)
	if apierrors.IsNotFound(err) {
		err = n.direct.Get(ctx, client.ObjectKey{Name: name}, &ns)
	}
	if err != nil {
		return nil, fmt.Errorf("webhook: reading namespace %s: %w", name, err)
	}
	return ns.Labels, nil
}
