package kubestore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seal-dev/seal/internal/ca"
	"github.com/seal-dev/seal/internal/store"
	sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"
)

// snapshot is everything read from the API server in one pass. Objects that do not parse are
// kept as errors so Load can refuse and the reconciler can report them.
type snapshot struct {
	authority    *store.Authority
	authorityRV  string
	authorityErr error

	crs        map[string]*sealv1.Workload // by name
	secrets    map[string]*corev1.Secret   // workload secrets by workload name
	recs       map[string]*store.Workload  // parsed workload secrets by workload name
	recErrs    map[string]error
	untrusted  map[string]error // workload secrets whose CA this ROT did not issue (ErrCAUntrusted)
	eggs       map[string]*store.Egg
	ftds       []sealv1.FederatedTrustDomain // sorted by name
	bundles    map[string]storedBundle       // by trust domain
	stateErr   error                         // eggs or bundles secret unreadable
	resVersion []string                      // what changed detection compares

	attest attestSnapshot // AttestationKey and AttestationPolicy resources (attestation.go)
}

func (s *Store) corrupt(name string, format string, args ...any) error {
	return fmt.Errorf("%w: secret %s/%s: %s", store.ErrCorrupt, s.ns, name, fmt.Sprintf(format, args...))
}

// read lists the store's objects. It fails only on API errors.
func (s *Store) read(ctx context.Context) (*snapshot, error) {
	var secrets corev1.SecretList
	if err := s.c.List(ctx, &secrets, client.InNamespace(s.ns)); err != nil {
		return nil, fmt.Errorf("kubestore: listing secrets in %s: %w", s.ns, err)
	}
	var wls sealv1.WorkloadList
	if err := s.c.List(ctx, &wls); err != nil {
		return nil, fmt.Errorf("kubestore: listing Workloads (are the seal.dev CRDs installed?): %w", err)
	}
	var ftds sealv1.FederatedTrustDomainList
	if err := s.c.List(ctx, &ftds); err != nil {
		return nil, fmt.Errorf("kubestore: listing FederatedTrustDomains (are the seal.dev CRDs installed?): %w", err)
	}
	sn := &snapshot{
		crs: map[string]*sealv1.Workload{}, secrets: map[string]*corev1.Secret{}, recs: map[string]*store.Workload{},
		recErrs: map[string]error{}, untrusted: map[string]error{}, eggs: map[string]*store.Egg{}, bundles: map[string]storedBundle{},
	}
	for i := range wls.Items {
		w := &wls.Items[i]
		sn.crs[w.Name] = w
		sn.resVersion = append(sn.resVersion, fmt.Sprintf("workload/%s/%d/%v", w.Name, w.Generation, w.DeletionTimestamp != nil))
	}
	if err := s.readAttestation(ctx, sn); err != nil {
		return nil, err
	}
	sn.ftds = ftds.Items
	sort.Slice(sn.ftds, func(i, j int) bool { return sn.ftds[i].Name < sn.ftds[j].Name })
	for _, f := range sn.ftds {
		sn.resVersion = append(sn.resVersion, fmt.Sprintf("ftd/%s/%d", f.Name, f.Generation))
	}
	for i := range secrets.Items {
		sec := &secrets.Items[i]
		switch name := sec.Name; {
		case name == AuthoritySecret:
			sn.authorityRV = sec.ResourceVersion
			sn.authority, sn.authorityErr = s.parseAuthority(sec)
		case strings.HasPrefix(name, WorkloadPrefix):
			wl := strings.TrimPrefix(name, WorkloadPrefix)
			sn.secrets[wl] = sec
			var rec store.Workload
			if err := decodeKey(sec, workloadKey, &rec); err != nil {
				sn.recErrs[wl] = s.corrupt(name, "%v", err)
			} else if rec.Spec.Name != wl || len(rec.CAs) == 0 {
				sn.recErrs[wl] = s.corrupt(name, "holds workload %q or no Workload CA", rec.Spec.Name)
			} else if err := s.checkKeyPairs(rec.CAs); err != nil {
				sn.recErrs[wl] = s.corrupt(name, "Workload CA %v", err)
			} else {
				sn.recs[wl] = &rec
			}
		case strings.HasPrefix(name, EggsPrefix):
			for id := range sec.Data {
				var e store.Egg
				if err := decodeKey(sec, id, &e); err != nil {
					sn.stateErr = errors.Join(sn.stateErr, s.corrupt(name, "%v", err))
				} else if e.ID != id {
					sn.stateErr = errors.Join(sn.stateErr, s.corrupt(name, "key %q holds egg %q", id, e.ID))
				} else {
					sn.eggs[id] = &e
				}
			}
		case strings.HasPrefix(name, SecretsPrefix): // read by loadSecrets; a change reloads
		case name == InvitesSecret: // read by loadInvites; listed here so a change reloads
		case name == ImageKeysSecret: // read by loadImageKeys; listed here so a change reloads
		case name == BundlesSecret:
			for td := range sec.Data {
				var b storedBundle
				if err := decodeKey(sec, td, &b); err != nil {
					sn.stateErr = errors.Join(sn.stateErr, s.corrupt(name, "%v", err))
				} else if b.Bundle.TrustDomain != td {
					sn.stateErr = errors.Join(sn.stateErr, s.corrupt(name, "key %q holds trust domain %q", td, b.Bundle.TrustDomain))
				} else {
					sn.bundles[td] = b
				}
			}
		default:
			continue
		}
		sn.resVersion = append(sn.resVersion, "secret/"+sec.Name+"/"+sec.ResourceVersion)
	}
	sort.Strings(sn.resVersion)
	if sn.authority != nil {
		// A Workload CA is trusted only when the ROT issued it for that workload: the Secret
		// alone proves nothing, since whoever can create Secrets here can write one.
		for wl, rec := range sn.recs {
			recorded := ""
			if cr := sn.crs[wl]; cr != nil {
				recorded = cr.Status.CAFingerprint
			}
			if err := checkTrust(wl, rec, sn.authority, recorded, s.opts.Now()); err != nil {
				delete(sn.recs, wl)
				sn.untrusted[wl] = err
			}
		}
	}
	return sn, nil
}

func (s *Store) parseAuthority(sec *corev1.Secret) (*store.Authority, error) {
	var a store.Authority
	if err := decodeKey(sec, authorityKey, &a); err != nil {
		return nil, s.corrupt(sec.Name, "%v", err)
	}
	if a.TrustDomain == "" || len(a.CAs) == 0 || a.EggKeys.Current == "" || len(a.EggKeys.Keys[a.EggKeys.Current]) == 0 {
		return nil, s.corrupt(sec.Name, "lacks the trust domain, ROT CA or egg-sealing key")
	}
	if err := s.checkKeyPairs(a.CAs); err != nil {
		return nil, s.corrupt(sec.Name, "ROT CA %v", err)
	}
	return &a, nil
}

// checkKeyPairs parses every CA certificate and key, so that a state Load accepts is one the
// ROT can serve.
func (s *Store) checkKeyPairs(kps []store.KeyPair) error {
	o := ca.Options{Custody: s.opts.Keys}
	for i, kp := range kps {
		if _, err := o.Open(kp.Cert, kp.Key); err != nil {
			return fmt.Errorf("%d does not parse: %v", i, err)
		}
	}
	return nil
}

// decodeKey decodes the JSON under key of sec strictly.
func decodeKey(sec *corev1.Secret, key string, v any) error {
	b, ok := sec.Data[key]
	if !ok {
		return fmt.Errorf("no key %q", key)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("key %q is not valid JSON state: %v", key, err)
	}
	return nil
}

// Load reads the state. It writes nothing; see the package documentation.
func (s *Store) Load(ctx context.Context) (*store.State, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sn, err := s.read(ctx)
	if err != nil {
		return nil, err
	}
	if sn.authorityErr != nil {
		return nil, sn.authorityErr
	}
	if sn.stateErr != nil {
		return nil, sn.stateErr
	}
	st := store.NewState()
	st.Authority = sn.authority
	own := ""
	if sn.authority != nil {
		own = sn.authority.TrustDomain
	}
	rvs := map[string]string{}
	for _, name := range sortedKeys(sn.crs) {
		cr := sn.crs[name]
		if cr.DeletionTimestamp != nil {
			continue // being deleted: the reconciler revokes its Eggs and removes its Secret
		}
		if err := sn.recErrs[name]; err != nil {
			return nil, err
		}
		if err := sn.untrusted[name]; err != nil {
			// Not served (its pods cannot redeem) rather than refusing the whole state: one
			// planted Secret must not take every other workload down. Its status says why.
			s.log.Error("kubestore: not loading a workload whose Secret holds an untrusted CA", "workload", name, "secret", s.ns+"/"+WorkloadPrefix+name, "err", err)
			continue
		}
		rec, ok := sn.recs[name]
		if !ok {
			continue // created with kubectl; the reconciler gives it a CA
		}
		w := *rec
		w.Spec = effectiveSpec(cr, rec, own)
		st.Workloads[name] = &w
		rvs[name] = sn.secrets[name].ResourceVersion
	}
	st.Eggs = sn.eggs
	if err := s.loadInvites(ctx, st); err != nil {
		return nil, err
	}
	if err := s.loadImageKeys(ctx, st); err != nil {
		return nil, err
	}
	st.Attestation = sn.attest.state
	for _, f := range sn.ftds {
		b, _ := effectiveBundle(f, sn.bundles)
		if b == nil || f.DeletionTimestamp != nil {
			continue
		}
		if _, dup := st.Bundles[b.TrustDomain]; !dup {
			st.Bundles[b.TrustDomain] = b
		}
	}
	if err := s.loadClusters(ctx, st); err != nil {
		return nil, err
	}
	if st.Authority == nil && (len(sn.secrets) > 0 || len(sn.eggs) > 0) {
		return nil, fmt.Errorf("%w: namespace %s holds workload or egg Secrets but no Secret %s; refusing to create a new ROT CA over them", store.ErrCorrupt, s.ns, AuthoritySecret)
	}
	if err := s.loadSecrets(ctx, st); err != nil {
		return nil, err
	}
	s.authorityRV = sn.authorityRV
	s.workloadRV = rvs
	return st, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
