package kubestore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seal-dev/seal/internal/podtoken"
	"github.com/seal-dev/seal/internal/store"
	sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"
)

// ClustersSecret keeps, per WorkloadCluster with a jwksURL, the last good JWKS fetched and the
// last fetch's error (the resource's status shows them too).
const ClustersSecret = "seal-rot-clusters"

// storedJWKS is a URL cluster's last fetch in Secret seal-rot-clusters; it is used only while
// the resource's spec.jwksURL is the one it was fetched from.
type storedJWKS struct {
	JWKSURL       string     `json:"jwksURL"`
	JWKS          string     `json:"jwks,omitempty"`
	LastRefreshed *time.Time `json:"lastRefreshed,omitempty"`
	LastError     string     `json:"lastError,omitempty"`
}

// loadClusters adds the WorkloadClusters (with their fetched JWKS) to st.
func (s *Store) loadClusters(ctx context.Context, st *store.State) error {
	var list sealv1.WorkloadClusterList
	if err := s.c.List(ctx, &list); err != nil {
		return fmt.Errorf("kubestore: listing WorkloadClusters (are the seal.dev CRDs installed?): %w", err)
	}
	fetched, err := s.fetchedJWKS(ctx)
	if err != nil {
		return err
	}
	for i := range list.Items {
		cr := &list.Items[i]
		if cr.DeletionTimestamp != nil {
			continue
		}
		st.Clusters[cr.Name] = clusterFromCR(cr, fetched[cr.Name])
	}
	return nil
}

func (s *Store) fetchedJWKS(ctx context.Context) (map[string]storedJWKS, error) {
	var sec corev1.Secret
	err := s.c.Get(ctx, client.ObjectKey{Namespace: s.ns, Name: ClustersSecret}, &sec)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("kubestore: reading secret %s/%s: %w", s.ns, ClustersSecret, err)
	}
	out := map[string]storedJWKS{}
	for name := range sec.Data {
		var j storedJWKS
		if err := decodeKey(&sec, name, &j); err != nil {
			return nil, s.corrupt(ClustersSecret, "%v", err)
		}
		out[name] = j
	}
	return out, nil
}

func clusterFromCR(cr *sealv1.WorkloadCluster, fetched storedJWKS) *store.Cluster {
	c := &store.Cluster{
		Name: cr.Name, Issuer: cr.Spec.Issuer, Audience: cr.Spec.Audience, JWKS: cr.Spec.JWKS,
		JWKSURL: cr.Spec.JWKSURL, JWKSCA: cr.Spec.JWKSCA, Created: cr.CreationTimestamp.UTC(),
	}
	if c.Audience == "" {
		c.Audience = store.DefaultAudience
	}
	if c.JWKSURL != "" && fetched.JWKSURL == c.JWKSURL {
		c.JWKS, c.LastRefreshed, c.LastError = fetched.JWKS, fetched.LastRefreshed, fetched.LastError
	}
	return c
}

// PutCluster creates or updates the WorkloadCluster resource, keeps a URL cluster's fetched
// JWKS in Secret seal-rot-clusters and writes the resource's status.
func (s *Store) PutCluster(ctx context.Context, c *store.Cluster) error {
	if !isSecretKey(c.Name) {
		return fmt.Errorf("kubestore: invalid cluster name %q", c.Name)
	}
	spec := sealv1.WorkloadClusterSpec{Issuer: c.Issuer, Audience: c.Audience, JWKSURL: c.JWKSURL, JWKSCA: c.JWKSCA}
	if c.JWKSURL == "" {
		spec.JWKS = c.JWKS
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cr := &sealv1.WorkloadCluster{ObjectMeta: metav1.ObjectMeta{Name: c.Name}, Spec: spec}
	if err := s.c.Create(ctx, cr); apierrors.IsAlreadyExists(err) {
		if err := s.c.Get(ctx, client.ObjectKey{Name: c.Name}, cr); err != nil {
			return fmt.Errorf("kubestore: reading WorkloadCluster %q: %w", c.Name, err)
		}
		if spec.Audience == "" {
			spec.Audience = cr.Spec.Audience // the CRD's default
		}
		if !equality.Semantic.DeepEqual(cr.Spec, spec) {
			patch := client.MergeFromWithOptions(cr.DeepCopy(), client.MergeFromWithOptimisticLock{})
			cr.Spec = spec
			if err := s.c.Patch(ctx, cr, patch); err != nil {
				return conflict(err, "updating WorkloadCluster "+c.Name)
			}
		}
	} else if err != nil {
		return fmt.Errorf("kubestore: creating WorkloadCluster %q: %w", c.Name, err)
	}
	if c.JWKSURL != "" {
		v, err := json.Marshal(storedJWKS{JWKSURL: c.JWKSURL, JWKS: c.JWKS, LastRefreshed: c.LastRefreshed, LastError: c.LastError})
		if err != nil {
			return fmt.Errorf("kubestore: encoding cluster %q: %w", c.Name, err)
		}
		if err := s.putKey(ctx, ClustersSecret, "clusters", c.Name, v); err != nil {
			return err
		}
	}
	return s.writeClusterStatus(ctx, cr, c)
}

// reconcileClusters writes the status of every WorkloadCluster (s.mu held): also of those made
// with kubectl, whose inline JWKS may not parse.
func (s *Store) reconcileClusters(ctx context.Context) error {
	var list sealv1.WorkloadClusterList
	if err := s.c.List(ctx, &list); err != nil {
		return fmt.Errorf("kubestore: listing WorkloadClusters: %w", err)
	}
	fetched, err := s.fetchedJWKS(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for i := range list.Items {
		cr := &list.Items[i]
		if cr.DeletionTimestamp == nil {
			errs = append(errs, s.writeClusterStatus(ctx, cr, clusterFromCR(cr, fetched[cr.Name])))
		}
	}
	return errors.Join(errs...)
}

func (s *Store) writeClusterStatus(ctx context.Context, cr *sealv1.WorkloadCluster, c *store.Cluster) error {
	st := *cr.Status.DeepCopy()
	st.LastError = c.LastError
	st.LastRefreshed = nil
	if c.LastRefreshed != nil {
		t := metav1.NewTime(c.LastRefreshed.UTC().Truncate(time.Second))
		st.LastRefreshed = &t
	}
	_, jwksErr := podtoken.ParseJWKS([]byte(c.JWKS))
	switch {
	case c.JWKS != "" && jwksErr != nil:
		setReady(&st.Conditions, false, "InvalidJWKS", jwksErr.Error()+"; no pod of this cluster can redeem; fix: spec.jwks must be the document of kubectl get --raw /openid/v1/jwks", cr.Generation)
	case c.LastError != "" && c.JWKS != "":
		setReady(&st.Conditions, false, "RefreshFailed", "fetching "+c.JWKSURL+" failed: "+c.LastError+"; the last good keys stay in use", cr.Generation)
	case c.LastError != "":
		setReady(&st.Conditions, false, "NoKeys", "fetching "+c.JWKSURL+" failed: "+c.LastError+"; no pod of this cluster can redeem until it succeeds", cr.Generation)
	case c.JWKS == "":
		setReady(&st.Conditions, false, "Pending", "the JWKS has not been fetched yet", cr.Generation)
	default:
		setReady(&st.Conditions, true, "KeysLoaded", "ServiceAccount tokens of issuer "+c.Issuer+" are verified", cr.Generation)
	}
	if equality.Semantic.DeepEqual(cr.Status, st) {
		return nil
	}
	patch := client.MergeFrom(cr.DeepCopy())
	cr.Status = st
	if err := s.c.Status().Patch(ctx, cr, patch); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("kubestore: writing status of WorkloadCluster %q: %w", cr.Name, err)
	}
	return nil
}

// DeleteCluster deletes the WorkloadCluster resource; ErrNotFound when there is none.
func (s *Store) DeleteCluster(ctx context.Context, name string) error {
	if !isSecretKey(name) {
		return fmt.Errorf("kubestore: invalid cluster name %q", name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.c.Delete(ctx, &sealv1.WorkloadCluster{ObjectMeta: metav1.ObjectMeta{Name: name}})
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("%w: cluster %q", store.ErrNotFound, name)
	}
	if err != nil {
		return fmt.Errorf("kubestore: deleting WorkloadCluster %q: %w", name, err)
	}
	return nil
}

func bindingsFromCR(bs []sealv1.WorkloadBinding) []store.Binding {
	var out []store.Binding
	for _, b := range bs {
		out = append(out, store.Binding{Cluster: b.Cluster, Namespace: b.Namespace, ServiceAccount: b.ServiceAccount})
	}
	return out
}

func crBindings(bs []store.Binding) []sealv1.WorkloadBinding {
	var out []sealv1.WorkloadBinding
	for _, b := range bs {
		out = append(out, sealv1.WorkloadBinding{Cluster: b.Cluster, Namespace: b.Namespace, ServiceAccount: b.ServiceAccount})
	}
	return out
}

// syncBindings brings an existing Workload resource's spec.bindings in line with the record
// (sealctl workload bind/unbind); the rest of its spec stays the user's.
func (s *Store) syncBindings(ctx context.Context, cr *sealv1.Workload, bs []store.Binding) error {
	if slices.Equal(bindingsFromCR(cr.Spec.Bindings), bs) {
		return nil
	}
	patch := client.MergeFromWithOptions(cr.DeepCopy(), client.MergeFromWithOptimisticLock{})
	cr.Spec.Bindings = crBindings(bs)
	if err := s.c.Patch(ctx, cr, patch); err != nil {
		return conflict(err, "updating the bindings of Workload "+cr.Name)
	}
	return nil
}
