package verify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/prometheus/client_golang/prometheus"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"
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

// registryOptions are the go-containerregistry options for one image's registry work.
func (v *Verifier) registryOptions(ctx context.Context, kc authn.Keychain) []remote.Option {
	if kc == nil {
		kc = authn.NewMultiKeychain() // anonymous
	}
	return []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(kc), remote.WithTransport(v.opts.Transport)}
}

// Resolve returns the digest an image names, as `repo@sha256:…` with the repository spelled
// in full: its own digest, or its tag's digest from the registry (within the registry timeout).
func (v *Verifier) Resolve(ctx context.Context, image string, kc authn.Keychain) (name.Digest, error) {
	ref, err := ParseReference(image)
	if err != nil {
		return name.Digest{}, err
	}
	r, err := v.resolve(ctx, ref, kc)
	if err != nil {
		return name.Digest{}, err
	}
	return r.nameDigest()
}

// resolved is an image's canonical digest reference, in parts; the tag is dropped and the
// repository spelled in full, so cache and coalescing keys do not depend on how a manifest
// spells the image.
type resolved struct {
	repo   string // index.docker.io/library/nginx
	digest string // sha256:…
}

func (r resolved) String() string { return r.repo + "@" + r.digest }

func (r resolved) nameDigest() (name.Digest, error) {
	d, err := name.NewDigest(r.String())
	if err != nil {
		return name.Digest{}, fmt.Errorf("%w: %v", ErrBadReference, err)
	}
	return d, nil
}

func (v *Verifier) resolve(ctx context.Context, ref name.Reference, kc authn.Keychain) (resolved, error) {
	if d, ok := ref.(name.Digest); ok {
		return resolved{repo: d.Context().Name(), digest: d.DigestStr()}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, v.opts.RegistryTimeout)
	defer cancel()
	done := v.metrics.registryTimer("resolve")
	desc, err := remote.Head(ref, v.registryOptions(ctx, kc)...)
	done()
	if err != nil {
		return resolved{}, fmt.Errorf("%w: resolving %s: %s", ErrRegistry, ref, registryErr(ctx, err))
	}
	return resolved{repo: ref.Context().Name(), digest: desc.Digest.String()}, nil
}

// ErrRegistry reports a registry that could not be reached or answered nonsense.
var ErrRegistry = errors.New("verify: registry unreachable")

func registryErr(ctx context.Context, err error) string {
	if ctx.Err() != nil {
		return "timed out: " + shortErr(err)
	}
	return shortErr(err)
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
		return dec.deny(ReasonRegistry, err.Error())
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

type sigResult struct {
	policy    *policy // non-nil when approved
	authority string
	reason    Reason
	message   string
}

// verifySignatures fetches the image's signatures once (coalescing concurrent callers) and
// checks them against every authority of the matching policies, caching successes.
func (v *Verifier) verifySignatures(ctx context.Context, digest name.Digest, matching []*policy, kc authn.Keychain) sigResult {
	var key strings.Builder
	key.WriteString(digest.String())
	for _, p := range matching {
		key.WriteString("|" + p.uid + "/" + p.name + "/" + strconv.FormatInt(p.generation, 10))
	}
	ch := v.flight.DoChan(key.String(), func() (any, error) {
		// The work is shared: it must not die with the first caller's request.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), v.opts.RegistryTimeout)
		defer cancel()
		return v.checkPolicies(fctx, digest, matching, kc), nil
	})
	select {
	case r := <-ch:
		return r.Val.(sigResult)
	case <-ctx.Done():
		return sigResult{reason: ReasonRegistry, message: "verification of " + digest.String() + " did not finish in time: " + ctx.Err().Error()}
	}
}

func (v *Verifier) checkPolicies(ctx context.Context, digest name.Digest, matching []*policy, kc authn.Keychain) (res sigResult) {
	defer func() {
		if r := recover(); r != nil { // a library bug on hostile registry data must not kill the webhook
			v.log.Error("verify: panic while verifying", "image", digest.String(), "panic", r)
			res = sigResult{reason: ReasonRegistry, message: fmt.Sprintf("verifying %s failed: internal error on registry data", digest)}
		}
	}()
	opts := []ociremote.Option{ociremote.WithRemoteOptions(v.registryOptions(ctx, kc)...)}
	arts, err := v.fetchArtifacts(ctx, digest, opts)
	if err != nil {
		return sigResult{reason: ReasonRegistry, message: fmt.Sprintf("registry unreachable or invalid while reading signatures of %s: %s", digest, registryErr(ctx, err))}
	}
	if arts.empty() {
		return sigResult{reason: ReasonNoSignature, message: fmt.Sprintf("no signature found for %s (neither a cosign .sig tag nor a sigstore bundle referrer); sign it with an authority of ImagePolicy %s", digest, policyNames(matching))}
	}
	var whys []string
	for _, p := range matching {
		for _, a := range p.authorities {
			id, k, err := v.authorityKey(ctx, a)
			if err != nil {
				whys = append(whys, err.Error())
				continue
			}
			if err := verifyAuthority(ctx, arts, a, k); err != nil {
				whys = append(whys, fmt.Sprintf("%s/%s: %s", p.name, a.name, shortErr(err)))
				continue
			}
			v.cache.add(cacheKey(digest.String(), p, id))
			return sigResult{policy: p, authority: a.name}
		}
	}
	return sigResult{reason: ReasonUntrusted, message: fmt.Sprintf("%s has %d signature(s) but none by a trusted key or identity of ImagePolicy %s (%s)",
		digest, len(arts.legacy)+len(arts.bundles), policyNames(matching), strings.Join(whys, "; "))}
}

func policyNames(ps []*policy) string {
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.name
	}
	return strings.Join(names, ", ")
}

// refMemo remembers parsed references (immutable values); pods repeat the same few images.
type refMemo struct {
	mu sync.RWMutex
	m  map[string]name.Reference
}

const refMemoSize = 4096

func (v *Verifier) parse(image string) (name.Reference, error) {
	v.refs.mu.RLock()
	ref, ok := v.refs.m[image]
	v.refs.mu.RUnlock()
	if ok {
		return ref, nil
	}
	ref, err := ParseReference(image)
	if err != nil {
		return nil, err
	}
	v.refs.mu.Lock()
	if v.refs.m == nil || len(v.refs.m) >= refMemoSize {
		v.refs.m = make(map[string]name.Reference)
	}
	v.refs.m[image] = ref
	v.refs.mu.Unlock()
	return ref, nil
}
