package imageadmission

import (
	"context"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seal-dev/seal/internal/verify"
)

// Scanner checks, every Interval, the images of the running pods in the enforced namespaces
// against the ImagePolicies in force now, and writes what it finds (pass, warn, fail) to each
// namespace's PolicyReport: after a policy change, the report shows what already runs
// unsigned. It reads Pods with List (through the manager's cache when Client is its client).
type Scanner struct {
	// Client lists Namespaces and Pods and reads pull secrets.
	Client   client.Reader
	Verifier *verify.Verifier
	Reports  *Reports
	Interval time.Duration
	// SealNamespace is never scanned (it is never enforced).
	SealNamespace string
	Now           func() time.Time
	Logger        *slog.Logger
}

// Start scans now and then every Interval until ctx ends.
func (s *Scanner) Start(ctx context.Context) error {
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	t := time.NewTicker(s.Interval)
	defer t.Stop()
	for {
		if err := s.Scan(ctx); err != nil && ctx.Err() == nil {
			s.Logger.Info("scan of running pods failed (retrying at the next interval)", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// NeedLeaderElection is false: every replica scans (the reports merge by object).
func (s *Scanner) NeedLeaderElection() bool { return false }

// Scan checks every running pod of every enforced namespace once.
func (s *Scanner) Scan(ctx context.Context) error {
	if s.Now == nil {
		s.Now = time.Now
	}
	h := &handlers{client: s.Client, verifier: s.Verifier, opts: Options{SealNamespace: s.SealNamespace}}
	var nss corev1.NamespaceList
	if err := s.Client.List(ctx, &nss); err != nil {
		return err
	}
	for _, n := range nss.Items {
		sc, err := h.namespaceScope(ctx, n.Name)
		if err != nil {
			return err
		}
		if !sc.enforced {
			continue
		}
		began := s.Now()
		var pods corev1.PodList
		if err := s.Client.List(ctx, &pods, client.InNamespace(n.Name)); err != nil {
			return err
		}
		for i := range pods.Items {
			p := &pods.Items[i]
			if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
				continue
			}
			s.scanPod(ctx, h, sc, p)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.Reports.scanDone(n.Name, began)
	}
	return nil
}

func (s *Scanner) scanPod(ctx context.Context, h *handlers, sc scope, p *corev1.Pod) {
	w := &workload{meta: p.ObjectMeta, spec: p.Spec}
	kc := h.lazyKeychainFor(ctx, p.Namespace, w)
	kcID := keychainID(p.Namespace, w)
	ref := corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Name: p.Name, Namespace: p.Namespace, UID: p.UID}
	for _, c := range w.containers() {
		if c.field == "ephemeralContainers" {
			continue
		}
		d := s.Verifier.Verify(ctx, verify.Request{Image: c.image, Namespace: p.Namespace, NamespaceLabels: sc.labels,
			Keychain: kc, KeychainID: kcID, Background: true})
		s.Reports.add(Finding{Object: ref, Owner: owner(p.Namespace, w), Container: c.name, Image: c.image,
			Decision: d, Scan: true, At: s.Now()})
	}
}
