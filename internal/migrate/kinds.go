package migrate

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/seal-dev/seal/internal/ca"
	"github.com/seal-dev/seal/internal/store"
)

// Kind is one kind of record Migrate copies.
type Kind struct {
	Name string
	// Count is how many records of this kind st holds (a destination is empty when every
	// Kind counts 0).
	Count func(st *store.State) int
	// Copy writes st's records of this kind to dst.
	Copy func(ctx context.Context, st *store.State, dst store.Store) error
}

// Kinds are copied in this order. The authority goes first: a Kubernetes store checks every
// Workload CA it loads against the ROT CAs.
var Kinds = []Kind{
	{"authority", countAuthority, copyAuthority},
	{"clusters", func(st *store.State) int { return len(st.Clusters) }, copyClusters},
	{"attestation keys", func(st *store.State) int { return len(st.Attestation.Keys) }, copyAttestationKeys},
	{"attestation policies", func(st *store.State) int { return len(st.Attestation.Policies) }, copyAttestationPolicies},
	{"workloads", func(st *store.State) int { return len(st.Workloads) }, copyWorkloads},
	{"secrets", countSecrets, copySecrets},
	{"egg records", func(st *store.State) int { return len(st.Eggs) }, copyEggs},
	{"bundles", func(st *store.State) int { return len(st.Bundles) }, copyBundles},
	{"federation invites", func(st *store.State) int { return len(st.Invites) }, copyInvites},
	{"image keys", func(st *store.State) int { return len(st.ImageKeys) }, copyImageKeys},
}

// Check is one value that must be the same in the source and the copy.
type Check struct {
	Name  string
	Value func(st *store.State) string
}

// Checks are what Verify compares (besides every Kind's count).
var Checks = []Check{
	{"ROT CAs", rotCAs},
	{"egg-sealing keys", eggKeys},
	{"JWT signing keys", jwtKeys},
	{"clusters", clusters},
	{"workload bindings", bindings},
	{"attestation keys", attestationKeys},
	{"attestation policies", attestationPolicies},
	{"workload attestation", workloadAttest},
	{"secrets", secrets},
	{"bundle sequence", func(st *store.State) string { return strconv.FormatUint(authority(st).BundleSequence, 10) }},
	{"admin certificates", admins},
	{"drained", drained},
	{"Workload CAs", workloadCAs},
	{"data keys", dataKeys},
	{"revoked eggs", revokedEggs},
	{"federated domains", federated},
	{"used invites", usedInvites},
	{"image keys", imageKeys},
}

func countAuthority(st *store.State) int {
	if st.Authority == nil {
		return 0
	}
	return 1
}

func copyAuthority(ctx context.Context, st *store.State, dst store.Store) error {
	return dst.PutAuthority(ctx, st.Authority)
}

func copyWorkloads(ctx context.Context, st *store.State, dst store.Store) error {
	for _, name := range sorted(st.Workloads) {
		if err := dst.PutWorkload(ctx, st.Workloads[name]); err != nil {
			return fmt.Errorf("workload %q: %w", name, err)
		}
	}
	return nil
}

func copyEggs(ctx context.Context, st *store.State, dst store.Store) error {
	for _, id := range sorted(st.Eggs) {
		if err := dst.PutEgg(ctx, st.Eggs[id]); err != nil {
			return fmt.Errorf("egg %s: %w", id, err)
		}
	}
	return nil
}

func copyBundles(ctx context.Context, st *store.State, dst store.Store) error {
	for _, td := range sorted(st.Bundles) {
		if err := dst.PutBundle(ctx, st.Bundles[td]); err != nil {
			return fmt.Errorf("trust domain %q: %w", td, err)
		}
	}
	return nil
}

func copyInvites(ctx context.Context, st *store.State, dst store.Store) error {
	for _, id := range sorted(st.Invites) {
		if err := dst.PutInvite(ctx, st.Invites[id]); err != nil {
			return fmt.Errorf("invite %s: %w", id, err)
		}
	}
	return nil
}

func copyClusters(ctx context.Context, st *store.State, dst store.Store) error {
	for _, name := range sorted(st.Clusters) {
		if err := dst.PutCluster(ctx, st.Clusters[name]); err != nil {
			return fmt.Errorf("cluster %q: %w", name, err)
		}
	}
	return nil
}

func copyAttestationKeys(ctx context.Context, st *store.State, dst store.Store) error {
	for _, name := range sorted(st.Attestation.Keys) {
		if err := dst.PutAttestationKey(ctx, st.Attestation.Keys[name]); err != nil {
			return fmt.Errorf("attestation key %q: %w", name, err)
		}
	}
	return nil
}

func copyAttestationPolicies(ctx context.Context, st *store.State, dst store.Store) error {
	for _, name := range sorted(st.Attestation.Policies) {
		if err := dst.PutAttestationPolicy(ctx, st.Attestation.Policies[name]); err != nil {
			return fmt.Errorf("attestation policy %q: %w", name, err)
		}
	}
	return nil
}

// attestationKeys names every registered AK with a digest of its public key.
func attestationKeys(st *store.State) string {
	var out []string
	for _, name := range sorted(st.Attestation.Keys) {
		d := sha256.Sum256([]byte(st.Attestation.Keys[name].AKPub))
		out = append(out, fmt.Sprintf("%s=%x", name, d[:6]))
	}
	return strings.Join(out, " ")
}

// attestationPolicies names every policy with its PCR values.
func attestationPolicies(st *store.State) string {
	var out []string
	for _, name := range sorted(st.Attestation.Policies) {
		p := st.Attestation.Policies[name]
		var pcrs []string
		for _, i := range sorted(p.PCRs) {
			pcrs = append(pcrs, i+":"+p.PCRs[i])
		}
		out = append(out, name+"("+strings.Join(pcrs, ",")+")")
	}
	return strings.Join(out, " ")
}

func workloadAttest(st *store.State) string {
	var out []string
	for _, name := range sorted(st.Workloads) {
		if a := st.Workloads[name].Spec.Attest; a != "" {
			out = append(out, name+"="+a)
		}
	}
	return strings.Join(out, " ")
}

func countSecrets(st *store.State) int {
	n := 0
	for _, m := range st.Secrets {
		n += len(m)
	}
	return n
}

func copySecrets(ctx context.Context, st *store.State, dst store.Store) error {
	for _, w := range sorted(st.Secrets) {
		for _, name := range sorted(st.Secrets[w]) {
			if err := dst.PutSecret(ctx, st.Secrets[w][name]); err != nil {
				return fmt.Errorf("secret %s/%s: %w", w, name, err)
			}
		}
	}
	return nil
}

// jwtKeys names the JWT signing keys with a digest of their stored form (never the keys).
func jwtKeys(st *store.State) string {
	h := sha256.New()
	var ids []string
	for _, k := range authority(st).JWTKeys {
		ids = append(ids, k.ID)
		h.Write([]byte(k.ID + "\x00" + k.Key + "\x00" + k.NotAfter.UTC().Format(time.RFC3339)))
	}
	return fmt.Sprintf("%s digest %x", strings.Join(ids, ","), h.Sum(nil)[:8])
}

func clusters(st *store.State) string {
	var out []string
	for _, name := range sorted(st.Clusters) {
		c := st.Clusters[name]
		out = append(out, fmt.Sprintf("%s(%s %s jwks=%d url=%s)", name, c.Issuer, c.Audience, len(c.JWKS), c.JWKSURL))
	}
	return strings.Join(out, " ")
}

func bindings(st *store.State) string {
	var out []string
	for _, name := range sorted(st.Workloads) {
		for _, b := range st.Workloads[name].Spec.Bindings {
			out = append(out, fmt.Sprintf("%s=%s/%s/%s", name, b.Cluster, b.Namespace, b.ServiceAccount))
		}
	}
	return strings.Join(out, " ")
}

// secrets names every secret with a digest of its encrypted value and window (never a value).
func secrets(st *store.State) string {
	var out []string
	for _, w := range sorted(st.Secrets) {
		for _, name := range sorted(st.Secrets[w]) {
			s := st.Secrets[w][name]
			d := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%d\x00%v\x00%v\x00%v", s.Value, s.DataKeyIndex, s.NotBefore, s.ExpiresAfter, s.Peers)))
			out = append(out, fmt.Sprintf("%s/%s=%x", w, name, d[:6]))
		}
	}
	return strings.Join(out, " ")
}

// authority is st's authority, or an empty one.
func authority(st *store.State) *store.Authority {
	if st.Authority == nil {
		return &store.Authority{}
	}
	return st.Authority
}

// fingerprints are the SHA-256 fingerprints of the first certificate of every pair, in order.
func fingerprints(kps []store.KeyPair) string {
	fps := make([]string, 0, len(kps))
	for _, kp := range kps {
		certs, err := ca.ParseCerts([]byte(kp.Cert))
		if err != nil || len(certs) == 0 {
			fps = append(fps, "unparsable")
			continue
		}
		fps = append(fps, ca.Fingerprint(certs[0]))
	}
	return strings.Join(fps, ",")
}

func rotCAs(st *store.State) string { return fingerprints(authority(st).CAs) }

// eggKeys names the egg-sealing keys, the current one and a digest of the key bytes (never the
// keys themselves).
func eggKeys(st *store.State) string {
	k := authority(st).EggKeys
	h := sha256.New()
	ids := sorted(k.Keys)
	for _, id := range ids {
		h.Write([]byte(id))
		h.Write([]byte{0})
		h.Write(k.Keys[id])
	}
	return fmt.Sprintf("%s current %s digest %x", strings.Join(ids, ","), k.Current, h.Sum(nil)[:8])
}

func admins(st *store.State) string { return strconv.Itoa(len(authority(st).Admins)) }

func drained(st *store.State) string {
	if d := authority(st).Drained; d != nil {
		return "since " + d.Since.UTC().Format(time.RFC3339)
	}
	return "no"
}

func workloadCAs(st *store.State) string {
	var out []string
	for _, name := range sorted(st.Workloads) {
		out = append(out, name+"="+fingerprints(st.Workloads[name].CAs)+activations(st.Workloads[name].CAs))
	}
	return strings.Join(out, " ")
}

func dataKeys(st *store.State) string {
	n := 0
	for _, w := range st.Workloads {
		n += len(w.DataKeys)
	}
	return strconv.Itoa(n)
}

func revokedEggs(st *store.State) string {
	n := 0
	for _, e := range st.Eggs {
		if e.Revoked {
			n++
		}
	}
	return strconv.Itoa(n)
}

func federated(st *store.State) string {
	var out []string
	for _, td := range sorted(st.Bundles) {
		b := st.Bundles[td]
		out = append(out, fmt.Sprintf("%s(%s)", td, b.EndpointProfile))
	}
	return strings.Join(out, " ")
}

func usedInvites(st *store.State) string {
	var out []string
	for _, id := range sorted(st.Invites) {
		if i := st.Invites[id]; i.Used != nil {
			out = append(out, id+"="+i.UsedBy)
		}
	}
	return strings.Join(out, " ")
}

func sorted[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// activations are the times published Workload CAs start signing (rot: activation.go), empty
// when every CA signs or signed already: a copy that lost them would switch CAs at once.
func activations(kps []store.KeyPair) string {
	var out []string
	for _, kp := range kps {
		if !kp.ActiveFrom.IsZero() {
			out = append(out, fingerprints([]store.KeyPair{kp})[:12]+"@"+kp.ActiveFrom.UTC().Format(time.RFC3339))
		}
	}
	if len(out) == 0 {
		return ""
	}
	return " signing from " + strings.Join(out, ",")
}
