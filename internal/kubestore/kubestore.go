package kubestore

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seal-dev/seal/internal/ca"
	"github.com/seal-dev/seal/internal/custody"
	"github.com/seal-dev/seal/internal/store"
	sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"
)

// Names of the objects the store keeps in its namespace.
const (
	AuthoritySecret = "seal-rot-authority"
	AdminSecret     = "seal-rot-admin"
	BundlesSecret   = "seal-rot-bundles"
	WorkloadPrefix  = "seal-workload-"
	EggsPrefix      = "seal-rot-eggs-"
	// Finalizer keeps a deleted Workload until its Eggs are revoked and its Secret removed.
	Finalizer = "seal.dev/rot"

	authorityKey = "authority.json"
	workloadKey  = "workload.json"
	managedBy    = "app.kubernetes.io/managed-by"
	manager      = "seal-rot"
	// maxSecretData keeps a Secret under the API server's 1 MiB object limit with room for
	// metadata and base64 encoding in etcd.
	maxSecretData = 900 << 10
)

// ErrConflict: the object changed in the API server since this store read it (another
// replica wrote it). Nothing was written; the Notifier makes the ROT reload, then retry.
var ErrConflict = fmt.Errorf("kubestore: the state changed in the API server (another seal-rot replica?); reload and retry: %w", store.ErrConflict)

// Options tune a Store.
type Options struct {
	// Now and Rand are the clock and randomness (time.Now, crypto/rand when nil).
	Now  func() time.Time
	Rand io.Reader
	// Logger receives the reconciler's logs (slog.Default when nil).
	Logger *slog.Logger
	// WorkloadCATTL is the lifetime of Workload CAs created for Workloads made with kubectl
	// (ca.DefaultWorkloadTTL when 0).
	WorkloadCATTL time.Duration
	// Resync is how often the reconciler runs without an event (1 minute when 0).
	Resync time.Duration
	// Keys opens and makes CA keys and seals data keys, as the ROT's (rot.Config.Keys; keys in
	// clear PEM when nil).
	Keys ca.Custody
}

// Store keeps the ROT state in a namespace. It implements store.Store and store.Notifier.
type Store struct {
	c    client.Client
	cfg  *rest.Config // for the informers of Changed
	ns   string
	opts Options
	log  *slog.Logger

	mu          sync.Mutex // serializes writes and reconciliation
	authorityRV string
	workloadRV  map[string]string
	admin       *adminCreds // what this store wrote to seal-rot-admin, re-asserted after PutAuthority
}

var (
	_ store.Store    = (*Store)(nil)
	_ store.Notifier = (*Store)(nil)
)

// Scheme returns a scheme with the core and seal.dev types, what the store's client needs.
func Scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := sealv1.AddToScheme(s); err != nil {
		return nil, err
	}
	return s, nil
}

// New returns a store for namespace on the API server of cfg.
func New(cfg *rest.Config, namespace string, o Options) (*Store, error) {
	if namespace == "" {
		return nil, errors.New("kubestore: empty namespace")
	}
	scheme, err := Scheme()
	if err != nil {
		return nil, fmt.Errorf("kubestore: %w", err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("kubestore: client: %w", err)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Resync <= 0 {
		o.Resync = time.Minute
	}
	if o.Keys == nil {
		o.Keys, _ = custody.NewFile(nil, o.Rand) // no KEK: cannot fail
	}
	return &Store{c: c, cfg: cfg, ns: namespace, opts: o, log: o.Logger, workloadRV: map[string]string{}}, nil
}

// Namespace is the namespace of the Secrets.
func (s *Store) Namespace() string { return s.ns }

// Close releases nothing: the background work of Changed ends with its context.
func (s *Store) Close() error { return nil }

// ErrUnreachable: the API server did not answer (stopped, restarting, unreachable). The
// change was not made; the ROT goes on redeeming from memory and answers admin changes 503.
var ErrUnreachable = fmt.Errorf("kubestore: the Kubernetes API server is unreachable; redemption goes on from memory, retry the change once it answers: %w", store.ErrUnavailable)

// conflict maps the API server's conflict answers to ErrConflict, and its silence to
// ErrUnreachable.
func conflict(err error, what string) error {
	if apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("%w: %s: %v", ErrConflict, what, err)
	}
	if unreachable(err) {
		return fmt.Errorf("%w: %s: %v", ErrUnreachable, what, err)
	}
	return fmt.Errorf("kubestore: %s: %w", what, err)
}

// unreachable reports whether err says the API server did not answer: no connection, or a
// timeout or 503 of a server shutting down.
func unreachable(err error) bool {
	var ue *url.Error
	return errors.As(err, &ue) || apierrors.IsServiceUnavailable(err) || apierrors.IsTimeout(err) || apierrors.IsServerTimeout(err)
}

func (s *Store) labels(kind string) map[string]string {
	return map[string]string{managedBy: manager, "seal.dev/state": kind}
}

func setReady(conds *[]metav1.Condition, status bool, reason, msg string, gen int64) {
	st := metav1.ConditionFalse
	if status {
		st = metav1.ConditionTrue
	}
	meta.SetStatusCondition(conds, metav1.Condition{Type: sealv1.ConditionReady, Status: st, Reason: reason, Message: msg, ObservedGeneration: gen})
}
