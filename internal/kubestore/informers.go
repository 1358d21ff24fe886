package kubestore

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"
)

// watched are the kinds whose changes make the store reconcile: its Secrets (in its
// namespace), Workloads and FederatedTrustDomains.
var watched = []schema.GroupVersionKind{
	corev1.SchemeGroupVersion.WithKind("Secret"),
	sealv1.GroupVersion.WithKind("Workload"),
	sealv1.GroupVersion.WithKind("FederatedTrustDomain"),
	sealv1.GroupVersion.WithKind("WorkloadCluster"),
	sealv1.GroupVersion.WithKind("AttestationKey"), sealv1.GroupVersion.WithKind("AttestationPolicy"),
}

// informers runs shared informers on the watched kinds and calls poke on every add, update
// and delete, until ctx ends. The informers hold metadata only (PartialObjectMetadata): they
// are the change signal, and the reconciler reads the objects live (read), so the secrets are
// not kept a second time in memory, and a decision (create a record, report a lost Secret,
// check a CA against status.caFingerprint) never rests on one kind's cache lagging another's.
// client-go's reflector re-lists and re-watches with backoff when the API server ends a watch.
// A kind whose informer cannot start (the CRDs are not installed yet) is retried every
// second, with a warning.
func (s *Store) informers(ctx context.Context, poke func()) error {
	c, err := cache.New(s.cfg, cache.Options{
		Scheme: s.c.Scheme(),
		Mapper: s.c.RESTMapper(),
		ByObject: map[client.Object]cache.ByObject{
			metaOnly(watched[0]): {Namespaces: map[string]cache.Config{s.ns: {}}},
		},
	})
	if err != nil {
		return fmt.Errorf("kubestore: informer cache: %w", err)
	}
	h := toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { poke() },
		UpdateFunc: func(any, any) { poke() },
		DeleteFunc: func(any) { poke() },
	}
	go func() {
		if err := c.Start(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("kubestore: informers stopped", "err", err)
		}
	}()
	for _, gvk := range watched {
		go func() {
			for ctx.Err() == nil {
				inf, err := c.GetInformer(ctx, metaOnly(gvk), cache.BlockUntilSynced(false))
				if err == nil {
					if _, err = inf.AddEventHandler(h); err == nil {
						return
					}
				}
				s.log.Warn("kubestore: watch failed; retrying", "kind", gvk.Kind, "err", err)
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
		}()
	}
	return nil
}

func metaOnly(gvk schema.GroupVersionKind) *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(gvk)
	return m
}
