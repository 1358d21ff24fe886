package kubestore

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/seal-dev/seal/internal/store"
	sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"
)

// Changed watches the store's Secrets, Workloads and FederatedTrustDomains with shared
// informers (informers.go). On every change
// (and every Resync) it reconciles them, then sends on the returned channel when the loaded
// state may differ from before. The channel is closed when ctx ends.
func (s *Store) Changed(ctx context.Context) <-chan struct{} {
	out := make(chan struct{}, 1)
	trig := make(chan struct{}, 1)
	poke := func() {
		select {
		case trig <- struct{}{}:
		default:
		}
	}
	if err := s.informers(ctx, poke); err != nil {
		s.log.Error("kubestore: no informers; reconciling every resync only", "err", err)
	}
	go func() {
		defer close(out)
		t := time.NewTicker(s.opts.Resync)
		defer t.Stop()
		last := ""
		poke()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			case <-trig:
			}
			// Coalesce a burst of events (one write of the ROT touches several objects).
			select {
			case <-ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
			key, err := s.Reconcile(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				s.log.Error("kubestore: reconciling", "err", err)
			}
			if key != "" && key != last {
				last = key
				select {
				case out <- struct{}{}:
				default:
				}
			}
		}
	}()
	return out
}

// Reconcile brings the resources in line with the stored state once: a Workload without a
// Secret gets a Workload CA and a data key (when the ROT CA exists and its spec is valid); a
// deleted Workload gets its Eggs revoked and its Secret removed; every Workload and
// FederatedTrustDomain gets its status. It returns a key that changes whenever the loaded
// state may have changed.
func (s *Store) Reconcile(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sn, err := s.read(ctx)
	if err != nil {
		return "", err
	}
	key := strings.Join(sn.resVersion, ",")
	a := sn.authority
	var errs []error
	for _, name := range sortedKeys(sn.crs) {
		cr := sn.crs[name]
		if cr.DeletionTimestamp != nil {
			if !controllerutil.ContainsFinalizer(cr, Finalizer) {
				continue
			}
			var revoke []*store.Egg
			for _, e := range sn.eggs {
				if e.Workload == name && !e.Revoked {
					revoke = append(revoke, e)
				}
			}
			if _, err := s.finalize(ctx, name, revoke); err != nil {
				errs = append(errs, err)
				continue
			}
			s.log.Info("workload deleted", "audit", true, "workload", name, "revokedEggs", len(revoke))
			continue
		}
		rec, recErr := sn.recs[name], sn.recErrs[name]
		if err := sn.untrusted[name]; err != nil {
			recErr = err // never adopted over, never trusted: Ready False, CAUntrusted
		}
		// Only a Workload that never had a CA is adopted. One whose status names a CA but whose
		// Secret is gone lost its keys: making new ones would silently orphan everything sealed
		// to the old data keys, so it waits (Ready False, SecretLost) for a restore.
		if rec == nil && recErr == nil && a != nil && cr.Status.CAFingerprint == "" && checkSpec(cr, a.TrustDomain) == nil {
			nr, err := s.adopt(ctx, cr, a)
			if err != nil {
				errs = append(errs, err)
			}
			rec = nr
		}
		if rec != nil {
			if err := s.ensureFinalizer(ctx, cr); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		if err := s.writeWorkloadStatus(ctx, cr, s.workloadStatus(cr, rec, recErr, a)); err != nil {
			errs = append(errs, err)
		}
	}
	seen := map[string]string{}
	for i := range sn.ftds {
		f := &sn.ftds[i]
		if f.DeletionTimestamp != nil {
			continue
		}
		b, berr := effectiveBundle(*f, sn.bundles)
		if first, dup := seen[f.Spec.TrustDomain]; dup {
			b, berr = nil, errors.New("FederatedTrustDomain "+first+" already names trust domain "+f.Spec.TrustDomain)
		} else {
			seen[f.Spec.TrustDomain] = f.Name
		}
		if err := s.writeFTDStatus(ctx, f, ftdStatus(f, b, berr)); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, s.reconcileClusters(ctx))
	errs = append(errs, s.reconcileAttestation(ctx, sn))
	return key, errors.Join(errs...)
}

// adopt creates the Secret of a Workload resource made with kubectl. Another replica may win
// the race; then its Secret stands.
func (s *Store) adopt(ctx context.Context, cr *sealv1.Workload, a *store.Authority) (*store.Workload, error) {
	if err := s.ensureFinalizer(ctx, cr); err != nil {
		return nil, err
	}
	rec, err := s.newRecord(cr, a)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	err = s.c.Create(ctx, s.secret(WorkloadPrefix+cr.Name, "workload", map[string][]byte{workloadKey: b}))
	if apierrors.IsAlreadyExists(err) {
		return nil, nil // another replica adopted it; the next pass reads its Secret
	}
	if err != nil {
		return nil, conflict(err, "creating secret "+s.ns+"/"+WorkloadPrefix+cr.Name)
	}
	fp, _ := current(rec, s.opts.Now())
	s.log.Info("created workload CA for Workload resource", "audit", true, "workload", cr.Name, "caFingerprint", fp)
	return rec, nil
}
