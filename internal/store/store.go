package store

import (
	"context"
	"errors"
	"time"

	"github.com/seal-dev/seal/internal/egg"
)

// Sentinel errors callers branch on.
var (
	// ErrCorrupt: stored state exists but cannot be read or is inconsistent. The ROT stops.
	ErrCorrupt = errors.New("store: state is corrupt")
	// ErrLocked: another process holds the state.
	ErrLocked = errors.New("store: state is locked by another process")
	// ErrNotFound: a Delete named something that is not stored.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: another process changed the state since this one loaded it (another ROT
	// replica sharing a Kubernetes store). The change was not made; reload and retry.
	ErrConflict = errors.New("store: the state changed under another process")
	// ErrUnavailable: the store did not answer (the Kubernetes API server is down or
	// restarting). The change was not made; retry once it is back.
	ErrUnavailable = errors.New("store: the state store is unreachable")
)

// Store is where the ROT keeps its State. See the package documentation for the contract.
type Store interface {
	// Load reads the whole state. A State with a nil Authority means nothing is stored yet.
	Load(ctx context.Context) (*State, error)
	// PutAuthority saves the ROT CA(s), the egg-sealing keyring and the bundle sequence.
	PutAuthority(ctx context.Context, a *Authority) error
	// PutWorkload creates or replaces a workload (spec, Workload CAs, data keys).
	PutWorkload(ctx context.Context, w *Workload) error
	// DeleteWorkload removes a workload; ErrNotFound when there is none by that name. The
	// workload's Egg records stay (the ROT revokes them first, and a re-created workload of
	// the same name must not bring them back).
	DeleteWorkload(ctx context.Context, name string) error
	// PutEgg creates or replaces a minted Egg's metadata (revocation sets Revoked).
	PutEgg(ctx context.Context, e *Egg) error
	// PutBundle creates or replaces a federated trust domain's bundle.
	PutBundle(ctx context.Context, b *Bundle) error
	// Close releases the store (the file store's lock).
	Close() error
	// PutCluster creates or replaces a cluster whose pods may redeem (pod binding).
	PutCluster(ctx context.Context, c *Cluster) error
	// DeleteCluster removes a cluster; ErrNotFound when there is none by that name.
	DeleteCluster(ctx context.Context, name string) error
	// PutSecret creates or replaces a workload's secret (its value age-encrypted).
	PutSecret(ctx context.Context, s *Secret) error
	// DeleteSecret removes a workload's secret; ErrNotFound when there is none by that name.
	DeleteSecret(ctx context.Context, workload, name string) error
	// PutInvite creates or replaces a federation invite's record (a join marks it used).
	PutInvite(ctx context.Context, i *Invite) error
	// PutAttestationKey creates or replaces a registered attestation key; DeleteAttestationKey
	// removes one (ErrNotFound when there is none); the same for attestation policies.
	PutAttestationKey(ctx context.Context, k *AttestationKey) error
	DeleteAttestationKey(ctx context.Context, name string) error
	PutAttestationPolicy(ctx context.Context, p *AttestationPolicy) error
	DeleteAttestationPolicy(ctx context.Context, name string) error
}

// Notifier is implemented by stores whose state other processes change. Changed returns a
// channel that receives a value whenever the ROT should Load again; it is closed when ctx ends.
type Notifier interface {
	Changed(ctx context.Context) <-chan struct{}
}

// State is everything the ROT keeps.
type State struct {
	// Authority is nil before the first start.
	Authority *Authority
	Workloads map[string]*Workload // by name
	Eggs      map[string]*Egg      // by id
	Bundles   map[string]*Bundle   // by trust domain
	Clusters  map[string]*Cluster  // by name (pod binding)

	// Secrets are the workloads' secrets, by workload, then name.
	Secrets map[string]map[string]*Secret
	Invites map[string]*Invite // federation invites by id
	// Attestation holds the registered attestation keys and policies.
	Attestation Attestation
	// ImageKeys are the keys of encrypted images, by id (stores implementing ImageKeyStore).
	ImageKeys map[string]*ImageKey
}

// Authority is the trust domain's root of trust.
type Authority struct {
	TrustDomain string    `json:"trustDomain"`
	Created     time.Time `json:"created"`
	// CAs are the ROT CAs, oldest first; during a rotation an old and a new one overlap.
	CAs []KeyPair `json:"cas"`
	// EggKeys seal and open Eggs; Current seals, every key opens.
	EggKeys egg.Keyring `json:"eggKeys"`
	// BundleSequence is the sequence number of the trust domain's SPIFFE bundle; it grows
	// every time the set of ROT CAs changes.
	BundleSequence uint64 `json:"bundleSequence"`
	// Admins is the allow-list of admin client certificates the admin API accepts. Nil in
	// state written before the list existed: then every unexpired admin certificate of a ROT
	// CA is accepted, as before, until seal-rot admin-cert writes a list.
	Admins []AdminCert `json:"admins,omitempty"`
	// JWTKeys sign JWT-SVIDs, oldest first (see JWTKey). Empty in state written before
	// JWT-SVIDs existed: the ROT creates the first at its next start.
	JWTKeys []JWTKey `json:"jwtKeys,omitempty"`
	// Drained is set while the ROT is drained (admin changes refused); nil otherwise.
	Drained *Drain `json:"drained,omitempty"`
}

// AdminCert is one allowed admin client certificate.
type AdminCert struct {
	// Serial is the certificate's serial number, lower-case hex without leading zeros (as
	// the audit lines print it).
	Serial   string    `json:"serial"`
	NotAfter time.Time `json:"notAfter"`
	Issued   time.Time `json:"issued"`
}

// KeyPair is a CA certificate and its private key, both PEM (the key PKCS#8).
type KeyPair struct {
	Cert string `json:"cert"`
	Key  string `json:"key"`
	// ActiveFrom, on a Workload CA, is when it starts signing: until then it is only published
	// in trust bundles (SPIRE's prepared CA), so every peer holds it before certificates it
	// signs appear. Zero: it signs from its NotBefore (CAs made before this field, --now).
	ActiveFrom time.Time `json:"activeFrom,omitzero"`
}

// Workload is a workload's spec and secrets.
type Workload struct {
	Spec WorkloadSpec `json:"spec"`
	// CAs are the Workload CAs, oldest first; during a rotation an old and a new one overlap.
	CAs []KeyPair `json:"cas"`
	// DataKeys are the age X25519 identities, index 0.. ; the highest index is current.
	DataKeys []DataKey `json:"dataKeys"`
	// Incarnation is a random id of this workload's life under its name, sealed into every Egg
	// minted for it: an Egg of a workload that was deleted does not redeem for a new workload
	// of the same name. The ROT gives a workload one when the first Egg is minted for it (so
	// records written before the field existed get one then); empty until then.
	Incarnation string `json:"incarnation,omitempty"`
}

// DataKey is one age X25519 identity of a workload.
type DataKey struct {
	Index    int       `json:"index"`
	Identity string    `json:"identity"` // AGE-SECRET-KEY-1...
	Created  time.Time `json:"created"`
}

// WorkloadSpec is what a workload was created (or last edited) with: the user-settable
// fields and the creation time. What can be derived from the rest of the record (the current
// Workload CA's fingerprint, the current data key index) is not stored; see the package
// documentation for how records written with those fields load.
type WorkloadSpec struct {
	Name          string    `json:"name"`
	Peers         []string  `json:"peers,omitempty"`
	CertTTL       string    `json:"certTTL,omitempty"` // Go duration; empty: the default
	FederatesWith []string  `json:"federatesWith,omitempty"`
	RouteHosts    []string  `json:"routeHosts,omitempty"`
	Created       time.Time `json:"created,omitempty"`
	// Bindings are the (cluster, namespace, service account) whose pods may redeem the
	// workload's Eggs; empty: the Egg alone redeems (see docs/binding.md).
	Bindings []Binding `json:"bindings,omitempty"`
	// Attest names the AttestationPolicy redemptions must satisfy; empty: no attestation.
	Attest string `json:"attest,omitempty"`
}

// Egg is what the ROT remembers of a minted Egg: never its text.
type Egg struct {
	ID        string    `json:"id"`
	Workload  string    `json:"workload"`
	Peer      string    `json:"peer"`
	NotAfter  time.Time `json:"notAfter"`
	Hostnames []string  `json:"hostnames,omitempty"`
	Revoked   bool      `json:"revoked,omitempty"`
	Created   time.Time `json:"created"`
}

// Bundle is a federated trust domain's SPIFFE bundle and where it is refreshed from.
type Bundle struct {
	TrustDomain       string `json:"trustDomain"`
	BundleEndpointURL string `json:"bundleEndpointURL,omitempty"`
	// EndpointProfile is https_spiffe or https_web (empty: no endpoint).
	EndpointProfile  string `json:"endpointProfile,omitempty"`
	EndpointSPIFFEID string `json:"endpointSPIFFEID,omitempty"`
	// Bundle is the SPIFFE bundle JSON document.
	Bundle         string     `json:"bundle,omitempty"`
	SequenceNumber uint64     `json:"sequenceNumber,omitempty"`
	LastRefreshed  *time.Time `json:"lastRefreshed,omitempty"`
	LastError      string     `json:"lastError,omitempty"`
}

// NewState returns an empty state (a first start).
func NewState() *State {
	return &State{
		Workloads: map[string]*Workload{},
		Eggs:      map[string]*Egg{},
		Bundles:   map[string]*Bundle{},
		Clusters:  map[string]*Cluster{},
		Secrets:   map[string]map[string]*Secret{},
		Invites:   map[string]*Invite{},

		Attestation: NewAttestation(),
		ImageKeys:   map[string]*ImageKey{},
	}
}
