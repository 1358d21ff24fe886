package verify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sigstore/sigstore/pkg/signature"
	"golang.org/x/sync/singleflight"
	"k8s.io/apimachinery/pkg/labels"

	sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"
)

// PolicySource lists the policies in force (from the cluster, or from a file).
type PolicySource interface {
	ImagePolicies(ctx context.Context) ([]sealv1.ImagePolicy, error)
	ApprovedImages(ctx context.Context) ([]sealv1.ApprovedImage, error)
}

// KeySource reads a PEM public key named by an authority's secretRef.
type KeySource interface {
	PublicKey(ctx context.Context, namespace, name, key string) ([]byte, error)
}

// NoMatchAction is what happens to an image no ImagePolicy matches.
type NoMatchAction string

const (
	NoMatchDeny  NoMatchAction = "deny"
	NoMatchWarn  NoMatchAction = "warn"
	NoMatchAllow NoMatchAction = "allow"
)

// Options configure a Verifier. Only Policies is required.
type Options struct {
	Policies PolicySource
	// Keys reads secretRef keys; nil makes secretRef authorities fail with a clear message.
	Keys KeySource
	// Namespace is where secretRefs without a namespace are looked up (the webhook's namespace).
	Namespace string
	// NoMatch is the action for images no policy matches; default deny.
	NoMatch NoMatchAction
	// CacheTTL is how long a successful verification is remembered; default 10m, <0 disables.
	CacheTTL time.Duration
	// CacheSize bounds the number of cached successes; default 10000.
	CacheSize int
	// RegistryTimeout bounds each image's registry work; default 10s (the verify webhook has 25s).
	RegistryTimeout time.Duration
	// Transport for registry calls; default a clone of remote.DefaultTransport.
	Transport http.RoundTripper
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Registerer receives the metrics; nil keeps them unregistered.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Verifier decides whether images may run.
type Verifier struct {
	opts    Options
	cache   *cache
	flight  singleflight.Group
	metrics *metrics
	log     *slog.Logger

	mu       sync.Mutex
	compiled map[string]*policy // by uid (checked against the generation)
	refs     refMemo
	keys     sync.Map // PEM fingerprint → signature.Verifier
}

// New makes a Verifier.
func New(o Options) (*Verifier, error) {
	if o.Policies == nil {
		return nil, errors.New("verify: Options.Policies is required")
	}
	switch o.NoMatch {
	case "":
		o.NoMatch = NoMatchDeny
	case NoMatchDeny, NoMatchWarn, NoMatchAllow:
	default:
		return nil, fmt.Errorf("verify: no-match action %q: want deny, warn or allow", o.NoMatch)
	}
	if o.CacheTTL == 0 {
		o.CacheTTL = 10 * time.Minute
	}
	if o.CacheSize <= 0 {
		o.CacheSize = 10000
	}
	if o.RegistryTimeout <= 0 {
		o.RegistryTimeout = 10 * time.Second
	}
	if o.Transport == nil {
		o.Transport = remote.DefaultTransport.(*http.Transport).Clone()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Verifier{
		opts:     o,
		cache:    newCache(o.CacheTTL, o.CacheSize, o.Now),
		metrics:  newMetrics(o.Registerer),
		log:      o.Logger,
		compiled: make(map[string]*policy),
	}, nil
}

// Request is one image to decide on.
type Request struct {
	// Image as written in the pod spec; a tag is resolved to its digest.
	Image string
	// NamespaceLabels select the policies whose namespaceSelector matches.
	NamespaceLabels map[string]string
	// Keychain authenticates to registries (the pod's pull secrets); nil is anonymous.
	Keychain authn.Keychain
}

// Verify decides on one image. It never panics and always returns a Decision; a Decision that
// is not Allowed carries the reason in Message.
func (v *Verifier) Verify(ctx context.Context, req Request) Decision {
	d := v.verify(ctx, req)
	v.metrics.verifications.WithLabelValues(string(d.Reason)).Inc()
	return d
}

func (v *Verifier) verify(ctx context.Context, req Request) Decision {
	dec := Decision{Image: req.Image}
	ref, err := v.parse(req.Image)
	if err != nil {
		return dec.deny(ReasonBadReference, "malformed image reference: "+err.Error())
	}
	res, err := v.resolve(ctx, ref, req.Keychain)
	if err != nil {
		return v.unresolved(ctx, dec, ref, req.NamespaceLabels, err)
	}
	dec.Digest = res.String()

	approved, err := v.opts.Policies.ApprovedImages(ctx)
	if err != nil {
		return dec.deny(ReasonPolicyError, "listing ApprovedImages: "+err.Error())
	}
	for _, a := range approved {
		// The CRD (and ReadPolicies) make spec.image end in @sha256:…; the digest is the content.
		if i := strings.LastIndexByte(a.Spec.Image, '@'); i >= 0 && a.Spec.Image[i+1:] == res.digest {
			dec.Policy = a.Name
			return dec.allow(ReasonApprovedImage, "approved by ApprovedImage "+a.Name)
		}
	}

	policies, broken, err := v.policies(ctx)
	if err != nil {
		return dec.deny(ReasonPolicyError, "listing ImagePolicies: "+err.Error())
	}
	rn := refName{repo: res.repo, full: dec.Digest, given: ref.Name()}
	nsLabels := labels.Set(req.NamespaceLabels)
	var matching []*policy
	for _, p := range policies {
		if p.matches(rn, nsLabels) {
			matching = append(matching, p)
		}
	}
	if len(matching) == 0 {
		msg := "no ImagePolicy matches " + rn.repo
		if len(broken) > 0 {
			msg += " (invalid policies ignored: " + strings.Join(broken, "; ") + ")"
		}
		switch v.opts.NoMatch {
		case NoMatchAllow:
			return dec.allow(ReasonNoMatch, msg)
		case NoMatchWarn:
			return dec.warn(ReasonNoMatch, msg)
		}
		return dec.deny(ReasonNoMatch, msg)
	}

	// A cached success of any authority of any matching policy approves the image.
	for _, p := range matching {
		for _, a := range p.authorities {
			id, _, err := v.authorityKey(ctx, a)
			if err != nil {
				continue
			}
			if v.cache.hit(cacheKey(dec.Digest, p, id)) {
				v.metrics.cacheHits.Inc()
				dec.Policy, dec.Authority, dec.Cached = p.name, a.name, true
				return dec.allow(ReasonApproved, "signed by authority "+a.name+" of ImagePolicy "+p.name)
			}
		}
	}

	digest, err := res.nameDigest()
	if err != nil {
		return dec.deny(ReasonBadReference, err.Error())
	}
	sr := v.verifySignatures(ctx, digest, matching, req.Keychain)
	if sr.policy != nil {
		dec.Policy, dec.Authority = sr.policy.name, sr.authority
		return dec.allow(ReasonApproved, "signed by authority "+sr.authority+" of ImagePolicy "+sr.policy.name)
	}
	enforce := false
	for _, p := range matching {
		enforce = enforce || p.mode == sealv1.ModeEnforce
	}
	if enforce {
		return dec.deny(sr.reason, sr.message)
	}
	return dec.warn(sr.reason, sr.message)
}

// unresolved decides on an image whose digest the registry did not give. It is denied, unless
// no policy that matches its name enforces: every matching policy is in warn mode, or none
// matches and the no-match action is warn or allow. A registry outage must not block what the
// policies only mean to warn about.
func (v *Verifier) unresolved(ctx context.Context, dec Decision, ref name.Reference, nsLabels map[string]string, err error) Decision {
	msg := err.Error()
	policies, _, perr := v.policies(ctx)
	if perr != nil {
		return dec.deny(ReasonRegistry, msg)
	}
	rn := refName{repo: ref.Context().Name(), full: ref.Name(), given: ref.Name()}
	matched := false
	for _, p := range policies {
		if p.matches(rn, labels.Set(nsLabels)) {
			if p.mode != sealv1.ModeWarn {
				return dec.deny(ReasonRegistry, msg)
			}
			matched = true
		}
	}
	switch {
	case matched, v.opts.NoMatch == NoMatchWarn:
		return dec.warn(ReasonRegistry, msg)
	case v.opts.NoMatch == NoMatchAllow:
		return dec.allow(ReasonRegistry, msg)
	}
	return dec.deny(ReasonRegistry, msg)
}

// authorityKey returns the authority's cache id and its key verifier (for key authorities),
// reading a secretRef's key through the KeySource.
func (v *Verifier) authorityKey(ctx context.Context, a *authority) (string, signature.Verifier, error) {
	if a.secretRef == nil {
		return a.id, a.key, nil
	}
	if v.opts.Keys == nil {
		return "", nil, fmt.Errorf("authority %s: key.secretRef %s cannot be read here (no cluster access)", a.name, a.secretRef.Name)
	}
	ns := a.secretRef.Namespace
	if ns == "" {
		ns = v.opts.Namespace
	}
	pem, err := v.opts.Keys.PublicKey(ctx, ns, a.secretRef.Name, a.secretRef.Key)
	if err != nil {
		return "", nil, fmt.Errorf("authority %s: reading key from Secret %s/%s: %v", a.name, ns, a.secretRef.Name, err)
	}
	fp := fingerprint(pem, []byte(a.hash.String()))
	if k, ok := v.keys.Load(fp); ok {
		return a.id + "/" + fp, k.(signature.Verifier), nil
	}
	k, err := loadKey(pem, a.hash)
	if err != nil {
		return "", nil, fmt.Errorf("authority %s: Secret %s/%s key %q: %v", a.name, ns, a.secretRef.Name, a.secretRef.Key, err)
	}
	v.keys.Store(fp, k)
	return a.id + "/" + fp, k, nil
}

// policies compiles the ImagePolicies, reusing compilations by uid and generation. It returns
// the usable policies and a description of each broken one.
func (v *Verifier) policies(ctx context.Context) ([]*policy, []string, error) {
	list, err := v.opts.Policies.ImagePolicies(ctx)
	if err != nil {
		return nil, nil, err
	}
	out := make([]*policy, 0, len(list))
	var broken []string
	v.mu.Lock()
	defer v.mu.Unlock()
	for i := range list {
		p := &list[i]
		memo := string(p.UID)
		if c, ok := v.compiled[memo]; ok && memo != "" && c.generation == p.Generation {
			out = append(out, c)
			continue
		}
		c, err := CompilePolicy(p)
		if err != nil {
			broken = append(broken, err.Error())
			continue
		}
		if memo != "" {
			if len(v.compiled) > 2*len(list)+16 {
				clear(v.compiled)
			}
			v.compiled[memo] = c
		}
		out = append(out, c)
	}
	return out, broken, nil
}

// CheckPolicy reports what is wrong with an ImagePolicy, or nil (for status conditions and
// `sealctl`).
func CheckPolicy(p *sealv1.ImagePolicy) error {
	_, err := CompilePolicy(p)
	return err
}
