package verify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
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
	// ApprovedImage names an ApprovedImage whose spec.image has digest (sha256:…), or "".
	ApprovedImage(ctx context.Context, digest string) (string, error)
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
	opts   Options
	cache  *cache
	flight singleflight.Group
	// unshared numbers requests with a keychain but no KeychainID, which are never coalesced.
	unshared atomic.Uint64
	metrics  *metrics
	log      *slog.Logger

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
	// Namespace the image runs in; only the metrics' namespace label uses it.
	Namespace string
	// NamespaceLabels select the policies whose namespaceSelector matches.
	NamespaceLabels map[string]string
	// Keychain authenticates to registries (the pod's pull secrets); nil is anonymous.
	Keychain authn.Keychain
	// KeychainID names the credentials Keychain stands for (namespace, service account, pull
	// secret names). Concurrent verifications of one image are coalesced only among requests
	// with the same KeychainID, so a caller without credentials never fails another's request.
	// Empty with a non-nil Keychain: the request is never coalesced.
	KeychainID string
	// RequireDigest denies an image written as a tag wherever an unapproved image would be
	// denied (a matching policy enforces, or none matches and NoMatch is deny), and warns where
	// it would be warned about. Admission sets it: the kubelet resolves a tag again at pull
	// time, so only a digest makes what runs what was verified. CLI checks of tags leave it off.
	RequireDigest bool
	// Background marks a check that admits nothing (the scan of running pods): it is not
	// counted in seal_image_verifications_total, so scans never look like denial spikes.
	Background bool
}

// Verify decides on one image. It never panics and always returns a Decision; a Decision that
// is not Allowed carries the reason in Message.
func (v *Verifier) Verify(ctx context.Context, req Request) Decision {
	d := v.verify(ctx, req)
	if req.Background {
		return d
	}
	mode := string(d.Mode)
	if mode == "" {
		mode = "none"
	}
	decision := "allow"
	switch {
	case !d.Allowed:
		decision = "deny"
	case d.Warning:
		decision = "warn"
	}
	v.metrics.verifications.WithLabelValues(d.Reason.Label(), decision, d.DecidingPolicy(), mode, req.Namespace).Inc()
	return d
}

func (v *Verifier) verify(ctx context.Context, req Request) Decision {
	dec := Decision{Image: req.Image}
	ref, err := v.parse(req.Image)
	if err != nil {
		return dec.deny(ReasonBadReference, "malformed image reference: "+err.Error())
	}
	policies, broken, err := v.policies(ctx)
	if err != nil {
		return dec.deny(ReasonPolicyError, "listing ImagePolicies: "+err.Error())
	}
	nsLabels := labels.Set(req.NamespaceLabels)
	unpinned := ""
	if _, pinned := ref.(name.Digest); !pinned && req.RequireDigest {
		act, why := v.enforcement(policies, tagName(ref), nsLabels)
		dec.Mode, dec.Failed = matchingModes(policies, tagName(ref), nsLabels)
		msg := fmt.Sprintf("image %s must be an image digest (%s@sha256:…), not a tag: the kubelet would resolve the tag again at pull time (%s)", ref.Name(), ref.Name(), why)
		switch act {
		case NoMatchDeny:
			return dec.deny(ReasonUnpinned, msg+"; fix: let the pin webhook resolve it (is the registry reachable from seal-webhook?) or write the image by digest")
		case NoMatchWarn:
			unpinned = msg
		}
	}
	res, err := v.resolve(ctx, ref, req.Keychain)
	if err != nil {
		return v.unresolved(dec, ref, policies, nsLabels, err)
	}
	dec.Digest = res.String()
	return withUnpinned(v.decide(ctx, dec, req, ref, res, policies, broken), unpinned)
}

// withUnpinned adds the warning about an unpinned tag to a decision that admits the image.
func withUnpinned(d Decision, msg string) Decision {
	switch {
	case msg == "" || !d.Allowed:
		return d
	case d.Warning:
		d.Message += "; " + msg
		return d
	}
	return d.warn(ReasonUnpinned, msg)
}

// decide approves a resolved image when an ApprovedImage names its digest, or when EVERY
// matching ImagePolicy approves it (one of its authorities verifies a signature), as sigstore
// policy-controller does. A failing enforce-mode policy denies; failing warn-mode policies only
// warn.
func (v *Verifier) decide(ctx context.Context, dec Decision, req Request, ref name.Reference, res resolved, policies []*policy, broken []string) Decision {
	approved, err := v.opts.Policies.ApprovedImage(ctx, res.digest)
	if err != nil {
		return dec.deny(ReasonPolicyError, "reading ApprovedImages: "+err.Error())
	}
	if approved != "" {
		dec.Policy = approved
		return dec.allow(ReasonApprovedImage, "approved by ApprovedImage "+approved)
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

	// A cached success of any authority approves its policy; the others are verified together.
	approvals := make([]Approval, len(matching))
	var todo []*policy
	for i, p := range matching {
		if a, ok := v.cachedApproval(ctx, dec.Digest, p); ok {
			approvals[i] = Approval{Policy: p.name, Authority: a}
			continue
		}
		todo = append(todo, p)
	}
	var sr sigResult
	if len(todo) > 0 {
		digest, err := res.nameDigest()
		if err != nil {
			return dec.deny(ReasonBadReference, err.Error())
		}
		sr = v.verifySignatures(ctx, digest, todo, req.Keychain, req.KeychainID)
	} else {
		v.metrics.cacheHits.Inc()
		dec.Cached = true
	}
	for j, p := range todo {
		for i, m := range matching {
			if m == p && sr.approved[j] != "" {
				approvals[i] = Approval{Policy: p.name, Authority: sr.approved[j]}
			}
		}
	}
	var failedEnforce, failedWarn []*policy
	for i, p := range matching {
		switch {
		case approvals[i].Authority != "":
			dec.Approvals = append(dec.Approvals, approvals[i])
		case p.mode == sealv1.ModeWarn:
			failedWarn = append(failedWarn, p)
		default:
			failedEnforce = append(failedEnforce, p)
		}
	}
	if len(dec.Approvals) > 0 {
		dec.Policy, dec.Authority = dec.Approvals[0].Policy, dec.Approvals[0].Authority
	}
	dec.Mode, dec.Failed = modeOf(matching), nil
	for _, p := range append(failedEnforce, failedWarn...) {
		dec.Failed = append(dec.Failed, p.name)
	}
	switch {
	case len(failedEnforce) > 0:
		return dec.deny(sr.reason, sr.message(todo, failedEnforce, dec.Approvals))
	case len(failedWarn) > 0:
		return dec.warn(sr.reason, sr.message(todo, failedWarn, dec.Approvals))
	}
	return dec.allow(ReasonApproved, approvalMessage(dec.Approvals))
}

func approvalMessage(as []Approval) string {
	parts := make([]string, len(as))
	for i, a := range as {
		parts[i] = "authority " + a.Authority + " of ImagePolicy " + a.Policy
	}
	return "signed by " + strings.Join(parts, " and ")
}

// cachedApproval returns the authority of p whose success on digest is cached.
func (v *Verifier) cachedApproval(ctx context.Context, digest string, p *policy) (string, bool) {
	for _, a := range p.authorities {
		id, _, err := v.authorityKey(ctx, a)
		if err != nil {
			continue
		}
		if v.cache.hit(cacheKey(digest, p, id)) {
			return a.name, true
		}
	}
	return "", false
}

// modeOf is ModeEnforce when one of the policies enforces, ModeWarn when all warn, "" for none.
func modeOf(ps []*policy) sealv1.PolicyMode {
	var m sealv1.PolicyMode
	for _, p := range ps {
		if p.mode != sealv1.ModeWarn {
			return sealv1.ModeEnforce
		}
		m = sealv1.ModeWarn
	}
	return m
}

// matchingModes is the mode of the policies matching an unresolved image, and their names (none
// of them approved it: it was not verified), enforce-mode ones first.
func matchingModes(policies []*policy, rn refName, nsLabels labels.Set) (sealv1.PolicyMode, []string) {
	var matching []*policy
	var enforce, warn []string
	for _, p := range policies {
		if p.matches(rn, nsLabels) {
			matching = append(matching, p)
			if p.mode == sealv1.ModeWarn {
				warn = append(warn, p.name)
			} else {
				enforce = append(enforce, p.name)
			}
		}
	}
	return modeOf(matching), append(enforce, warn...)
}

// tagName is the policy-matching name of an image that was not resolved to a digest.
func tagName(ref name.Reference) refName {
	return refName{repo: ref.Context().Name(), full: ref.Name(), given: ref.Name()}
}

// enforcement says what happens to an unapproved image of this name in a namespace with these
// labels, and why: deny when a matching policy enforces, warn when only warn-mode policies
// match, and the no-match action when none matches.
func (v *Verifier) enforcement(policies []*policy, rn refName, nsLabels labels.Set) (NoMatchAction, string) {
	var warnOnly []*policy
	for _, p := range policies {
		if !p.matches(rn, nsLabels) {
			continue
		}
		if p.mode != sealv1.ModeWarn {
			return NoMatchDeny, "ImagePolicy " + p.name + " enforces"
		}
		warnOnly = append(warnOnly, p)
	}
	if len(warnOnly) > 0 {
		return NoMatchWarn, "only warn-mode ImagePolicy " + policyNames(warnOnly) + " matches"
	}
	return v.opts.NoMatch, fmt.Sprintf("no ImagePolicy matches %s; the no-match action is %s", rn.repo, v.opts.NoMatch)
}

// Enforces reports whether an unapproved image would be denied in a namespace with these
// labels (a matching ImagePolicy enforces, or none matches and the no-match action is deny),
// and why. It fails closed: a policy list that cannot be read, or a bad reference, enforces.
// The pin handler asks it before admitting an image it could not pin.
func (v *Verifier) Enforces(ctx context.Context, image string, nsLabels map[string]string) (bool, string) {
	ref, err := v.parse(image)
	if err != nil {
		return true, "malformed image reference: " + err.Error()
	}
	policies, _, err := v.policies(ctx)
	if err != nil {
		return true, "listing ImagePolicies: " + err.Error()
	}
	act, why := v.enforcement(policies, tagName(ref), labels.Set(nsLabels))
	return act == NoMatchDeny, why
}

// unresolved decides on an image whose digest the registry did not give. It is denied, unless
// no policy that matches its name enforces: every matching policy is in warn mode, or none
// matches and the no-match action is warn or allow. A registry outage must not block what the
// policies only mean to warn about.
func (v *Verifier) unresolved(dec Decision, ref name.Reference, policies []*policy, nsLabels labels.Set, err error) Decision {
	msg := err.Error()
	dec.Mode, dec.Failed = matchingModes(policies, tagName(ref), nsLabels)
	switch act, _ := v.enforcement(policies, tagName(ref), nsLabels); act {
	case NoMatchWarn:
		return dec.warn(ReasonRegistry, msg)
	case NoMatchAllow:
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
