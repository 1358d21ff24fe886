package kubestore

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/seal-dev/seal/internal/ca"
	"github.com/seal-dev/seal/internal/rot"
	"github.com/seal-dev/seal/internal/store"
	sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"
)

// specFromCR maps a Workload resource to the ROT's picture of its spec.
func specFromCR(cr *sealv1.Workload) store.WorkloadSpec {
	w := store.WorkloadSpec{
		Name:          cr.Name,
		Peers:         slices.Clone(cr.Spec.Peers),
		FederatesWith: slices.Clone(cr.Spec.FederatesWith),
		RouteHosts:    slices.Clone(cr.Spec.RouteHosts),
		Created:       cr.CreationTimestamp.UTC(),
		Bindings:      bindingsFromCR(cr.Spec.Bindings),
		Attest:        cr.Spec.Attest,
	}
	if cr.Spec.CertTTL != nil {
		w.CertTTL = cr.Spec.CertTTL.Duration.String()
	}
	return w
}

// crSpec maps the ROT's spec to a Workload resource's spec.
func crSpec(w store.WorkloadSpec) (sealv1.WorkloadSpec, error) {
	spec := sealv1.WorkloadSpec{
		Peers:         slices.Clone(w.Peers),
		FederatesWith: slices.Clone(w.FederatesWith),
		RouteHosts:    slices.Clone(w.RouteHosts),
		Bindings:      crBindings(w.Bindings),
		Attest:        w.Attest,
	}
	if w.CertTTL != "" {
		d, err := time.ParseDuration(w.CertTTL)
		if err != nil {
			return spec, fmt.Errorf("kubestore: workload %q certTTL %q: %w", w.Name, w.CertTTL, err)
		}
		spec.CertTTL = &metav1.Duration{Duration: d}
	}
	return spec, nil
}

// effectiveSpec is the spec the ROT serves: the resource's when it is valid (a kubectl edit
// takes effect), else the last accepted one kept in the Secret. Created and a certTTL string
// of the same duration come from the Secret, so specs round-trip as they were written.
func effectiveSpec(cr *sealv1.Workload, rec *store.Workload, ownTD string) store.WorkloadSpec {
	if checkSpec(cr, ownTD) != nil {
		return rec.Spec
	}
	w := specFromCR(cr)
	w.Created = rec.Spec.Created
	if rec.Spec.CertTTL != "" && cr.Spec.CertTTL != nil {
		if d, err := time.ParseDuration(rec.Spec.CertTTL); err == nil && d == cr.Spec.CertTTL.Duration {
			w.CertTTL = rec.Spec.CertTTL
		}
	}
	return w
}

// checkSpec applies the ROT admin API's checks to a Workload resource's spec.
func checkSpec(cr *sealv1.Workload, ownTD string) error {
	td, err := spiffeid.TrustDomainFromString(ownTD)
	if err != nil {
		return fmt.Errorf("kubestore: the ROT's trust domain %q: %w", ownTD, err)
	}
	w := specFromCR(cr)
	return rot.CheckWorkloadSpec(&w, td)
}

// current returns the fingerprint of the current Workload CA (the one that signs: a published
// CA waiting for its ActiveFrom is not current yet) and the current data key index.
func current(rec *store.Workload, now time.Time) (string, int32) {
	var all []*ca.CA
	for _, kp := range rec.CAs {
		if kp.ActiveFrom.After(now) {
			continue
		}
		if certs, err := ca.ParseCerts([]byte(kp.Cert)); err == nil { // the fingerprint needs no key
			all = append(all, &ca.CA{Cert: certs[0]})
		}
	}
	fp := ""
	if c := ca.Current(all, now); c != nil {
		fp = c.Fingerprint()
	}
	idx := 0
	for _, k := range rec.DataKeys {
		idx = max(idx, k.Index)
	}
	return fp, int32(idx)
}

// workloadStatus is the status a Workload resource should carry. rec is its Secret's record
// (nil when it has none), recErr why the Secret does not parse.
func (s *Store) workloadStatus(cr *sealv1.Workload, rec *store.Workload, recErr error, a *store.Authority) sealv1.WorkloadStatus {
	st := *cr.Status.DeepCopy()
	st.ObservedGeneration = cr.Generation
	own := ""
	if a != nil {
		own = a.TrustDomain
	}
	specErr := checkSpec(cr, own)
	secret := s.ns + "/" + WorkloadPrefix + cr.Name
	switch {
	case errors.Is(recErr, ErrCAUntrusted):
		setReady(&st.Conditions, false, "CAUntrusted", "Secret "+secret+" is not trusted and not used: "+recErr.Error()+
			"; fix: delete that Secret and restore the one seal-rot wrote from backup, and find out who could write Secrets in "+s.ns, cr.Generation)
	case recErr != nil:
		setReady(&st.Conditions, false, "SecretUnreadable", recErr.Error(), cr.Generation)
	case rec == nil && a == nil:
		setReady(&st.Conditions, false, "WaitingForROT", "seal-rot has not created its ROT CA yet", cr.Generation)
	case rec == nil && cr.Status.CAFingerprint != "":
		setReady(&st.Conditions, false, "SecretLost", "Secret "+secret+" with this Workload's CA and data keys is gone: restore it from backup "+
			"(data sealed to its keys cannot be decrypted otherwise), or delete and re-create the Workload to start over with new keys", cr.Generation)
	case rec == nil && specErr != nil:
		setReady(&st.Conditions, false, "InvalidSpec", specErr.Error(), cr.Generation)
	case rec == nil:
		setReady(&st.Conditions, false, "Pending", "the Workload CA is being created", cr.Generation)
	default:
		st.CAFingerprint, st.DataKeyIndex = current(rec, s.opts.Now())
		switch {
		case specErr != nil:
			setReady(&st.Conditions, false, "InvalidSpec", specErr.Error()+"; seal-rot serves the last accepted spec", cr.Generation)
		case st.CAFingerprint == "":
			setReady(&st.Conditions, false, "NoValidCA", "no Workload CA in Secret "+secret+" is valid now", cr.Generation)
		default:
			setReady(&st.Conditions, true, "Reconciled", "Workload CA and data keys are in Secret "+secret, cr.Generation)
		}
	}
	return st
}

// newRecord creates the record of a Workload resource made with kubectl with the ROT CA that
// is current now: rot.NewWorkloadRecord, as the ROT admin API does for sealctl workload create.
func (s *Store) newRecord(cr *sealv1.Workload, a *store.Authority) (*store.Workload, error) {
	now := s.opts.Now()
	opts := ca.Options{Now: s.opts.Now, Rand: s.opts.Rand, Custody: s.opts.Keys}
	var roots []*ca.CA
	for i, kp := range a.CAs {
		c, err := opts.Open(kp.Cert, kp.Key)
		if err != nil {
			return nil, fmt.Errorf("kubestore: stored ROT CA %d: %w", i, err)
		}
		roots = append(roots, c)
	}
	root := ca.Current(roots, now)
	if root == nil {
		return nil, fmt.Errorf("kubestore: no stored ROT CA is valid at %s", now.UTC().Format(time.RFC3339))
	}
	return rot.NewWorkloadRecord(root, a.TrustDomain, specFromCR(cr), s.opts.WorkloadCATTL, opts)
}

// ErrCAUntrusted: a Secret seal-workload-NAME holds a CA that this ROT did not issue for that
// Workload (not signed by any ROT CA, issued for another workload, or not the CA the Workload's
// status records). Anyone who can create Secrets in the ROT's namespace could otherwise plant
// a CA whose key they hold; such a Secret is never loaded or used for signing.
var ErrCAUntrusted = errors.New("kubestore: untrusted Workload CA")

// checkTrust verifies that every unexpired CA of rec was issued by one of the ROT CAs of a for
// workload name, and, when the Workload's status records a CA fingerprint (recorded), that rec
// still holds that CA. Expired CAs are never served, so they are not checked (their issuing
// ROT CA may be gone).
func checkTrust(name string, rec *store.Workload, a *store.Authority, recorded string, now time.Time) error {
	var roots []*x509.Certificate
	for _, kp := range a.CAs {
		if certs, err := ca.ParseCerts([]byte(kp.Cert)); err == nil {
			roots = append(roots, certs[0])
		}
	}
	holdsRecorded, current := recorded == "", 0
	for i, kp := range rec.CAs {
		certs, err := ca.ParseCerts([]byte(kp.Cert))
		if err != nil {
			return fmt.Errorf("%w: CA %d does not parse: %v", ErrCAUntrusted, i, err)
		}
		c := certs[0]
		fp := ca.Fingerprint(c)
		if fp == recorded {
			holdsRecorded = true
		}
		if now.After(c.NotAfter) {
			continue
		}
		if !signedByAny(c, roots) {
			return fmt.Errorf("%w: CA %d (fingerprint %s) is not signed by any ROT CA of trust domain %q", ErrCAUntrusted, i, fp, a.TrustDomain)
		}
		if c.Subject.CommonName != workloadCAName+name || !c.IsCA || !c.MaxPathLenZero || len(c.Subject.OrganizationalUnit) != 1 || c.Subject.OrganizationalUnit[0] != a.TrustDomain {
			return fmt.Errorf("%w: CA %d (fingerprint %s, %q) is signed by the ROT but is not the Workload CA of %q", ErrCAUntrusted, i, fp, c.Subject.CommonName, name)
		}
		current++
	}
	if current == 0 {
		// A record with no CA to sign with would make the whole state unservable (every
		// reload and restart would fail), so it is refused like any other untrusted record.
		return fmt.Errorf("%w: it holds no unexpired Workload CA", ErrCAUntrusted)
	}
	if !holdsRecorded {
		return fmt.Errorf("%w: none of its CAs is the one status.caFingerprint records (%s): the Secret was replaced", ErrCAUntrusted, recorded)
	}
	return nil
}

// workloadCAName prefixes the common name ca.NewIntermediate gives a Workload CA.
const workloadCAName = "Seal workload CA "

func signedByAny(c *x509.Certificate, roots []*x509.Certificate) bool {
	for _, r := range roots {
		if bytes.Equal(c.RawIssuer, r.RawSubject) && c.CheckSignatureFrom(r) == nil {
			return true
		}
	}
	return false
}
