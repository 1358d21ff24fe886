package imageadmission

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"

	"github.com/google/go-containerregistry/pkg/authn"
	k8schain "github.com/google/go-containerregistry/pkg/authn/kubernetes"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// scope is what the handlers learn about the namespace and credentials of a request.
type scope struct {
	enforced bool
	labels   map[string]string
}

// namespaceScope reports whether images are enforced in ns: labelled seal.dev/enforce=true or
// seal.dev/inject=enabled, and not a system namespace.
func (h *handlers) namespaceScope(ctx context.Context, ns string) (scope, error) {
	if ns == "" || sealv1.SystemNamespaces[ns] || ns == h.opts.SealNamespace {
		return scope{}, nil
	}
	var n corev1.Namespace // the cache's own object, not a copy: only read
	if err := h.client.Get(ctx, types.NamespacedName{Name: ns}, &n, client.UnsafeDisableDeepCopy); err != nil {
		return scope{}, fmt.Errorf("imageadmission: reading namespace %s: %w", ns, err)
	}
	l := n.Labels
	return scope{enforced: l[sealv1.LabelEnforce] == "true" || l[sealv1.LabelInject] == sealv1.NamespaceInjectEnabled, labels: l}, nil
}

// keychain authenticates to registries with the pod's imagePullSecrets and those of its service
// account, as the kubelet would. Missing Secrets are skipped (the kubelet skips them too).
func (h *handlers) keychain(ctx context.Context, ns string, w *workload) (authn.Keychain, error) {
	names := map[string]bool{}
	for _, r := range w.spec.ImagePullSecrets {
		names[r.Name] = true
	}
	sa := w.spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	var acct corev1.ServiceAccount
	switch err := h.client.Get(ctx, types.NamespacedName{Namespace: ns, Name: sa}, &acct); {
	case err == nil:
		for _, r := range acct.ImagePullSecrets {
			names[r.Name] = true
		}
	case !apierrors.IsNotFound(err):
		return nil, fmt.Errorf("imageadmission: reading service account %s/%s: %w", ns, sa, err)
	}
	var secrets []corev1.Secret
	for n := range names {
		var s corev1.Secret
		err := h.client.Get(ctx, client.ObjectKey{Namespace: ns, Name: n}, &s)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("imageadmission: reading pull secret %s/%s: %w", ns, n, err)
		}
		secrets = append(secrets, s)
	}
	if len(secrets) == 0 {
		return authn.NewMultiKeychain(), nil
	}
	return k8schain.NewFromPullSecrets(ctx, secrets)
}

// keychainID names the credentials keychain reads for a workload: its namespace, service
// account and pod pull secrets (the service account's pull secrets follow from its name).
// Verifications are coalesced only among requests with the same credentials.
func keychainID(ns string, w *workload) string {
	sa := w.spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	names := make([]string, 0, len(w.spec.ImagePullSecrets))
	for _, r := range w.spec.ImagePullSecrets {
		names = append(names, r.Name)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	return ns + "/" + sa + "/" + strings.Join(names, ",")
}

// lazyKeychain reads the pull secrets only when a registry call asks for credentials: a
// verify review whose images are all in the verification cache (the common case, a
// ReplicaSet creating pods of a verified template) then costs no API server reads at all.
type lazyKeychain func() (authn.Keychain, error)

func (l lazyKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	kc, err := l()
	if err != nil {
		return nil, err
	}
	return kc.Resolve(r)
}

// lazyKeychainFor is keychain, read once and on first use. The reads outlive a canceled
// request (a coalesced verification may serve other requests) but not a bounded time.
func (h *handlers) lazyKeychainFor(ctx context.Context, ns string, w *workload) authn.Keychain {
	return lazyKeychain(sync.OnceValues(func() (authn.Keychain, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		return h.keychain(ctx, ns, w)
	}))
}
