package rot

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/seal-dev/seal/internal/ca"
	"github.com/seal-dev/seal/internal/custody"
	"github.com/seal-dev/seal/internal/egg"
	"github.com/seal-dev/seal/internal/podtoken"
	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/store"
)

// view is an immutable, parsed snapshot of the state: what the request paths read.
type view struct {
	td      spiffeid.TrustDomain
	roots   []*ca.CA // every ROT CA still valid, oldest first
	root    *ca.CA   // the current ROT CA
	rootPEM string   // PEM of roots: the Egg's rotCA and admin ca.crt
	bundle  *spiffebundle.Bundle
	keyring *egg.Keyring

	workloads map[string]*workloadView
	eggs      map[string]bool // ids of the Eggs this ROT has a record of; no record, no redemption
	revoked   map[string]bool
	federated map[string]string  // trust domain -> PEM of its X.509 authorities
	jwt       *jwtKeys           // JWT-SVID signing keys (jwtsvid.go)
	tokens    *podtoken.Verifier // the clusters' ServiceAccount token keys (clusters.go)
	attest    *attestView        // attestation keys and policies (attest.go)
}

type workloadView struct {
	rec        *store.Workload
	cas        []*ca.CA
	current    *ca.CA
	currentPEM string      // PEM of current, appended to every leaf
	pending    []pendingCA // CAs published but not yet signing, by activation time (activation.go)
	bundlePEM  string
	certTTL    time.Duration
	peers      map[string]bool
	routeHosts map[string]bool
	federates  []string
	dataKeys   []rotapi.DataKey // newest first
}

// refreshHint is how often federating trust domains should fetch the bundle again.
const refreshHint = 5 * time.Minute

func buildView(st *store.State, now time.Time, o ca.Options) (*view, error) {
	a := st.Authority
	td, err := spiffeid.TrustDomainFromString(a.TrustDomain)
	if err != nil {
		return nil, fmt.Errorf("rot: stored trust domain: %w", err)
	}
	v := &view{td: td, eggs: make(map[string]bool, len(st.Eggs)), revoked: map[string]bool{}, federated: map[string]string{}}
	if err := v.setRoots(a, now, o); err != nil {
		return nil, err
	}
	v.workloads = make(map[string]*workloadView, len(st.Workloads))
	for name, w := range st.Workloads {
		wv, err := buildWorkload(w, now, o)
		if err != nil {
			return nil, err
		}
		v.addChains(wv)
		v.workloads[name] = wv
	}
	for id, e := range st.Eggs {
		v.eggs[id] = true
		if e.Revoked {
			v.revoked[id] = true
		}
	}
	v.attest = buildAttestView(st.Attestation)
	for name, b := range st.Bundles {
		p, err := bundlePEM(b)
		if err != nil {
			return nil, fmt.Errorf("rot: stored bundle of %q: %w", name, err)
		}
		v.federated[name] = p
	}
	v.tokens = newVerifier(st.Clusters)
	return v, nil
}

func (v *view) setRoots(a *store.Authority, now time.Time, o ca.Options) error {
	kr, err := openKeyring(&a.EggKeys, o)
	if err != nil {
		return err
	}
	v.keyring = kr
	var all []*ca.CA
	for i, kp := range a.CAs {
		c, err := o.Open(kp.Cert, kp.Key)
		if err != nil {
			return fmt.Errorf("rot: stored ROT CA %d: %w", i, err)
		}
		all = append(all, c)
	}
	v.roots = ca.Unexpired(all, now)
	v.root = ca.Current(all, now)
	if v.root == nil {
		return fmt.Errorf("rot: no stored ROT CA is valid at %s", now.UTC().Format(time.RFC3339))
	}
	var pem []byte
	for _, c := range v.roots {
		pem = append(pem, c.CertPEM()...)
	}
	v.rootPEM = string(pem)
	b := spiffebundle.New(v.td)
	for _, c := range v.roots {
		b.AddX509Authority(c.Cert)
	}
	b.SetRefreshHint(refreshHint)
	b.SetSequenceNumber(a.BundleSequence)
	v.bundle = b
	return v.setJWT(a, now, o)
}

func buildWorkload(w *store.Workload, now time.Time, o ca.Options) (*workloadView, error) {
	name := w.Spec.Name
	wv := &workloadView{rec: w, peers: map[string]bool{}, routeHosts: map[string]bool{}}
	var all, active []*ca.CA
	for i, kp := range w.CAs {
		c, err := o.Open(kp.Cert, kp.Key)
		if err != nil {
			return nil, fmt.Errorf("rot: workload %q CA %d: %w", name, i, err)
		}
		all = append(all, c)
		if kp.ActiveFrom.After(now) {
			wv.pending = append(wv.pending, pendingCA{ca: c, from: kp.ActiveFrom})
		} else {
			active = append(active, c)
		}
	}
	wv.cas = ca.Unexpired(all, now)
	wv.current = ca.Current(active, now)
	if wv.current == nil && len(wv.pending) > 0 { // nothing active is left: the earliest pending signs now
		wv.current, wv.pending = wv.pending[0].ca, wv.pending[1:]
	}
	if wv.current == nil {
		return nil, fmt.Errorf("rot: workload %q has no valid Workload CA", name)
	}
	var pem []byte
	for _, c := range wv.cas {
		pem = append(pem, c.CertPEM()...)
	}
	wv.bundlePEM = string(pem)
	wv.currentPEM = string(wv.current.CertPEM())
	wv.certTTL = ca.DefaultLeafTTL
	if w.Spec.CertTTL != "" {
		d, err := time.ParseDuration(w.Spec.CertTTL)
		if err != nil {
			return nil, fmt.Errorf("rot: workload %q certTTL: %w", name, err)
		}
		wv.certTTL = d
	}
	peers := w.Spec.Peers
	if len(peers) == 0 {
		peers = []string{defaultPeer}
	}
	for _, p := range peers {
		wv.peers[p] = true
	}
	for _, h := range w.Spec.RouteHosts {
		wv.routeHosts[strings.ToLower(h)] = true
	}
	wv.federates = slices.Clone(w.Spec.FederatesWith)
	keys := slices.Clone(w.DataKeys)
	slices.SortFunc(keys, func(a, b store.DataKey) int { return b.Index - a.Index })
	for _, k := range keys {
		id, err := o.Unseal(custody.DataKeyName(name, k.Index), k.Identity)
		if err != nil {
			return nil, fmt.Errorf("rot: workload %q data key %d: %w", name, k.Index, err)
		}
		wv.dataKeys = append(wv.dataKeys, rotapi.DataKey{ID: dataKeyID(name, k.Index), Identity: string(id)})
	}
	return wv, nil
}

func dataKeyID(workload string, index int) string { return fmt.Sprintf("%s-%d", workload, index) }

// bundlePEM is the PEM of a federated bundle's X.509 authorities.
func bundlePEM(b *store.Bundle) (string, error) {
	td, err := spiffeid.TrustDomainFromString(b.TrustDomain)
	if err != nil {
		return "", err
	}
	sb, err := spiffebundle.Parse(td, []byte(b.Bundle))
	if err != nil {
		return "", err
	}
	return string(ca.CertPEM(sb.X509Authorities()...)), nil
}

// clone returns a shallow copy of v for copy-on-write updates.
func (v *view) clone() *view {
	c := *v
	c.workloads = maps.Clone(v.workloads)
	c.eggs = maps.Clone(v.eggs)
	c.revoked = maps.Clone(v.revoked)
	c.federated = maps.Clone(v.federated)
	return &c
}

// workloadSpec is the admin API's picture of a workload.
func (wv *workloadView) spec() rotapi.Workload {
	return apiWorkload(wv.rec, wv.current.Fingerprint())
}
