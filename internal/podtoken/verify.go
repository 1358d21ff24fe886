package podtoken

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/seal-dev/seal/internal/store"
)

// Leeway is the clock skew allowed on exp, nbf and iat.
const Leeway = 30 * time.Second

// MaxLifetime bounds how long a token may still be valid when it is presented: seal-webhook's
// projected tokens live 10 minutes, a TokenRequest 1 hour by default; a token good for days
// (kubectl create token --duration 8760h) is a long-lived bearer credential and is refused.
const MaxLifetime = 24 * time.Hour

// MaxTokenBytes bounds the token the ROT parses (kube-apiserver's are about 1 KiB).
const MaxTokenBytes = 8 << 10

// Sentinel errors: the check that failed. An *Error wraps one of them.
var (
	ErrNoToken         = errors.New("no ServiceAccount token")
	ErrMalformed       = errors.New("malformed token")
	ErrUnknownIssuer   = errors.New("unknown issuer")
	ErrClusterNotBound = errors.New("cluster not bound")
	ErrSignature       = errors.New("bad signature")
	ErrAudience        = errors.New("wrong audience")
	ErrExpired         = errors.New("token expired")
	ErrNotYetValid     = errors.New("token not yet valid")
	ErrTooLong         = errors.New("token lives too long")
	ErrNotBound        = errors.New("namespace or service account not bound")
)

// Error is a refused token: Check is one of the sentinel errors, Detail says what was found
// and how to fix it. It never holds the token.
type Error struct {
	Check  error
	Detail string
}

func (e *Error) Error() string { return "podtoken: " + e.Check.Error() + ": " + e.Detail }
func (e *Error) Unwrap() error { return e.Check }
func fail(check error, format string, args ...any) *Error {
	return &Error{Check: check, Detail: fmt.Sprintf(format, args...)}
}

// Cluster is a cluster as the Verifier needs it.
type Cluster struct {
	Name, Issuer, Audience string
	// JWKS is the JSON Web Key Set document.
	JWKS string
}

type cluster struct {
	Cluster
	keys jose.JSONWebKeySet
}

// Pod is what a verified token says of the pod that sent it.
type Pod struct {
	Cluster, Namespace, ServiceAccount string
	// Name and UID are the pod's (empty for a token not bound to a pod).
	Name, UID string
}

// Verifier verifies tokens against a fixed set of clusters. It is immutable and safe for
// concurrent use; build a new one when the clusters change.
type Verifier struct {
	byIssuer map[string][]*cluster
	byName   map[string]*cluster
}

// NewVerifier parses the clusters' key sets. A cluster whose JWKS is empty or does not parse
// is left out (its tokens are refused as of an unknown issuer) and reported in errs, so one
// bad cluster does not stop the others.
func NewVerifier(clusters []Cluster) (v *Verifier, errs []error) {
	v = &Verifier{byIssuer: map[string][]*cluster{}, byName: map[string]*cluster{}}
	for _, c := range clusters {
		ks, err := ParseJWKS([]byte(c.JWKS))
		if err != nil {
			errs = append(errs, fmt.Errorf("podtoken: cluster %q: %w", c.Name, err))
			continue
		}
		if c.Audience == "" {
			c.Audience = store.DefaultAudience
		}
		cl := &cluster{Cluster: c, keys: *ks}
		v.byName[c.Name] = cl
		v.byIssuer[c.Issuer] = append(v.byIssuer[c.Issuer], cl)
	}
	return v, errs
}

// ParseJWKS parses a JWKS document and checks it holds at least one public RSA or ECDSA
// signing key.
func ParseJWKS(doc []byte) (*jose.JSONWebKeySet, error) {
	if len(doc) == 0 {
		return nil, errors.New("no JWKS yet")
	}
	var ks jose.JSONWebKeySet
	if err := json.Unmarshal(doc, &ks); err != nil {
		return nil, fmt.Errorf("the JWKS is not a JSON Web Key Set: %v", err)
	}
	var out jose.JSONWebKeySet
	for _, k := range ks.Keys {
		if k.IsPublic() && k.Valid() && (k.Use == "" || k.Use == "sig") {
			out.Keys = append(out.Keys, k)
		}
	}
	if len(out.Keys) == 0 {
		return nil, errors.New("the JWKS has no public signing key")
	}
	return &out, nil
}

// keysFor returns the keys of c that may have signed a token with key id kid.
func (c *cluster) keysFor(kid string) []jose.JSONWebKey {
	if kid == "" {
		return c.keys.Keys
	}
	return c.keys.Key(kid)
}

// lookup returns the clusters of issuer iss that a binding names, and whether any cluster
// has that issuer at all.
func (v *Verifier) lookup(iss string, bindings []store.Binding) (bound []*cluster, known bool) {
	cs := v.byIssuer[iss]
	for _, c := range cs {
		if slices.ContainsFunc(bindings, func(b store.Binding) bool { return b.Cluster == c.Name }) {
			bound = append(bound, c)
		}
	}
	return bound, len(cs) > 0
}

// k8sClaims are the kubernetes.io claims of a projected ServiceAccount token.
type k8sClaims struct {
	K8s struct {
		Namespace string `json:"namespace"`
		Pod       *struct {
			Name string `json:"name"`
			UID  string `json:"uid"`
		} `json:"pod,omitempty"`
		ServiceAccount struct {
			Name string `json:"name"`
			UID  string `json:"uid"`
		} `json:"serviceaccount"`
	} `json:"kubernetes.io"`
}

var algs = []jose.SignatureAlgorithm{jose.RS256, jose.ES256}

// Verify checks token for a workload bound by bindings at time now and returns the pod it
// proves. Errors are *Error.
func (v *Verifier) Verify(token string, bindings []store.Binding, now time.Time) (*Pod, error) {
	if token == "" {
		return nil, fail(ErrNoToken, "the workload is bound to %s; send the pod's projected ServiceAccount token "+
			"(seal-init reads /var/run/secrets/seal.dev/token, which seal-webhook mounts); fix: inject the pod with seal-webhook, or pass seal-init --token-file", bindingList(bindings))
	}
	if len(token) > MaxTokenBytes {
		return nil, fail(ErrMalformed, "the token is over %d bytes", MaxTokenBytes)
	}
	tok, err := jwt.ParseSigned(token, algs)
	if err != nil {
		return nil, fail(ErrMalformed, "not a JWT signed with RS256 or ES256: %v", err)
	}
	var unverified jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return nil, fail(ErrMalformed, "the claims do not decode: %v", err)
	}
	iss := unverified.Issuer
	cs, known := v.lookup(iss, bindings)
	if !known {
		return nil, fail(ErrUnknownIssuer, "issuer %s is not the issuer of any cluster the ROT knows; fix: sealctl cluster add NAME --issuer ISSUER --jwks FILE", short(iss))
	}
	if len(cs) == 0 {
		return nil, fail(ErrClusterNotBound, "the token's issuer %s is cluster %s, which is not bound to this workload (bound: %s); fix: sealctl workload bind WORKLOAD %s/NAMESPACE/SERVICEACCOUNT",
			short(iss), v.byIssuer[iss][0].Name, bindingList(bindings), v.byIssuer[iss][0].Name)
	}
	kid := tok.Headers[0].KeyID
	var (
		claims jwt.Claims
		kc     k8sClaims
		signer *cluster
	)
verify:
	for _, c := range cs {
		for _, k := range c.keysFor(kid) {
			if tok.Claims(k.Key, &claims, &kc) == nil {
				signer = c
				break verify
			}
		}
	}
	if signer == nil {
		return nil, fail(ErrSignature, "the token does not verify with any key of cluster %s (key id %s); fix: if the cluster's signing key changed, update its JWKS (sealctl cluster add --jwks, or check sealctl cluster get for the last refresh)", cs[0].Name, short(kid))
	}
	if claims.Expiry == nil {
		return nil, fail(ErrExpired, "the token has no exp claim; only bounded tokens are accepted; fix: use the projected token seal-webhook mounts, not a legacy Secret token")
	}
	err = claims.ValidateWithLeeway(jwt.Expected{Issuer: signer.Issuer, AnyAudience: jwt.Audience{signer.Audience}, Time: now}, Leeway)
	switch {
	case err == nil:
	case errors.Is(err, jwt.ErrInvalidAudience):
		return nil, fail(ErrAudience, "the token's audience %s is not %q, the audience of cluster %s; fix: seal-webhook --token-audience %s (or sealctl cluster add --audience)",
			short(strings.Join(claims.Audience, ",")), signer.Audience, signer.Name, signer.Audience)
	case errors.Is(err, jwt.ErrExpired):
		return nil, fail(ErrExpired, "the token expired at %s (now %s); fix: seal-init re-reads the token the kubelet rotates, check the projected volume", claims.Expiry.Time().UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	case errors.Is(err, jwt.ErrNotValidYet), errors.Is(err, jwt.ErrIssuedInTheFuture):
		return nil, fail(ErrNotYetValid, "the token is not valid before %s (now %s); fix: check the clocks of the cluster and the ROT", claimTime(claims.NotBefore, claims.IssuedAt), now.UTC().Format(time.RFC3339))
	default:
		return nil, fail(ErrMalformed, "%v", err)
	}
	if left := claims.Expiry.Time().Sub(now); left > MaxLifetime {
		return nil, fail(ErrTooLong, "the token is valid until %s, more than %s from now; fix: use the short-lived projected token seal-webhook mounts (or kubectl create token --duration 1h)",
			claims.Expiry.Time().UTC().Format(time.RFC3339), MaxLifetime)
	}
	p := &Pod{Cluster: signer.Name, Namespace: kc.K8s.Namespace, ServiceAccount: kc.K8s.ServiceAccount.Name}
	if kc.K8s.Pod != nil {
		p.Name, p.UID = kc.K8s.Pod.Name, kc.K8s.Pod.UID
	}
	if p.Namespace == "" || p.ServiceAccount == "" || claims.Subject != "system:serviceaccount:"+p.Namespace+":"+p.ServiceAccount {
		return nil, fail(ErrMalformed, "the token is not a ServiceAccount token (no kubernetes.io namespace and service account matching its subject)")
	}
	for _, b := range bindings {
		if b.Cluster == p.Cluster && b.Namespace == p.Namespace && (b.ServiceAccount == "*" || b.ServiceAccount == p.ServiceAccount) {
			return p, nil
		}
	}
	return nil, fail(ErrNotBound, "pod %s runs as %s/%s/%s, which is not bound to this workload (bound: %s); fix: run it in a bound namespace and service account, or sealctl workload bind WORKLOAD %s/%s/%s",
		or(p.Name, "?"), p.Cluster, p.Namespace, p.ServiceAccount, bindingList(bindings), p.Cluster, p.Namespace, p.ServiceAccount)
}

func claimTime(ts ...*jwt.NumericDate) string {
	for _, t := range ts {
		if t != nil {
			return t.Time().UTC().Format(time.RFC3339)
		}
	}
	return "?"
}

// short quotes s, cut to 100 bytes: claims come from the sender.
func short(s string) string {
	if len(s) > 100 {
		s = s[:100] + "..."
	}
	return fmt.Sprintf("%q", s)
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func bindingList(bs []store.Binding) string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b.String()
	}
	return strings.Join(out, ", ")
}
