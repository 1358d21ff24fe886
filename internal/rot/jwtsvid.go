package rot

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/spiffe/go-spiffe/v2/bundle/jwtbundle"
	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/seal-dev/seal/internal/ca"
	"github.com/seal-dev/seal/internal/custody"
	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/store"
)

const (
	// jwtKeyTTL is a JWT signing key's life; it gets a successor at two thirds of it and stays
	// in the bundle until it expires, far longer than any token it signed.
	jwtKeyTTL = 30 * 24 * time.Hour
	// jwtSVIDTTL is a JWT-SVID's life (SPIRE's default too), never past the pod certificate's.
	jwtSVIDTTL = 5 * time.Minute
	// maxAudiences bounds the aud claim.
	maxAudiences = 16
)

// jwtKeys is the parsed JWT signing keys of a view.
type jwtKeys struct {
	kid    string // the signing key's id; empty when no key is valid
	signer *ecdsa.PrivateKey
	public map[string]crypto.PublicKey // every unexpired key, by id
}

// setJWT parses the JWT signing keys of a and adds them to the view's bundle as JWT authorities.
func (v *view) setJWT(a *store.Authority, now time.Time, o ca.Options) error {
	k := &jwtKeys{public: map[string]crypto.PublicKey{}}
	for _, jk := range a.JWTKeys {
		if !now.Before(jk.NotAfter) {
			continue
		}
		plain, err := o.Unseal(custody.JWTKeyName(jk.ID), jk.Key)
		if err != nil {
			return fmt.Errorf("rot: stored JWT key %s: %w", jk.ID, err)
		}
		key, err := parseJWTKey(string(plain))
		if err != nil {
			return fmt.Errorf("rot: stored JWT key %s: %w", jk.ID, err)
		}
		k.public[jk.ID] = key.Public()
		if !now.Before(jk.Created) {
			k.kid, k.signer = jk.ID, key // oldest first: the newest valid key wins
		}
		if err := v.bundle.AddJWTAuthority(jk.ID, key.Public()); err != nil {
			return fmt.Errorf("rot: JWT key %s: %w", jk.ID, err)
		}
	}
	v.jwt = k
	return nil
}

func parseJWTKey(p string) (*ecdsa.PrivateKey, error) {
	b, _ := pem.Decode([]byte(p))
	if b == nil {
		return nil, errors.New("no PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, err
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok || ek.Curve != elliptic.P256() {
		return nil, errors.New("not a P-256 key")
	}
	return ek, nil
}

// jwtNeedsRotation reports whether the JWT keys need a successor (none valid, or the newest has
// used two thirds of its life) or pruning (one expired).
func jwtNeedsRotation(keys []store.JWTKey, now time.Time) (addNew, prune bool) {
	if len(keys) == 0 {
		return true, false
	}
	for _, k := range keys {
		if !now.Before(k.NotAfter) {
			prune = true
		}
	}
	last := keys[len(keys)-1]
	return !now.Before(last.Created.Add(last.NotAfter.Sub(last.Created) * 2 / 3)), prune
}

// rotateJWTLocked drops expired JWT keys and, when addNew, adds a successor; the bundle's
// sequence number grows. It returns the new key's id.
func (s *Server) rotateJWTLocked(ctx context.Context, addNew bool) (string, error) {
	now := s.cfg.Now()
	a := *s.st.Authority
	a.JWTKeys = nil
	for _, k := range s.st.Authority.JWTKeys {
		if now.Before(k.NotAfter) {
			a.JWTKeys = append(a.JWTKeys, k)
		}
	}
	var kid string
	if addNew {
		k, err := s.newJWTKey()
		if err != nil {
			return "", err
		}
		a.JWTKeys, kid = append(a.JWTKeys, k), k.ID
	}
	a.BundleSequence++
	return kid, s.putAuthorityLocked(ctx, &a, "rotated JWT signing key", "kid", kid, "keys", len(a.JWTKeys))
}

// newJWTKey generates a P-256 JWT signing key valid from now for jwtKeyTTL.
func (s *Server) newJWTKey() (store.JWTKey, error) {
	now := s.cfg.Now()
	key, err := ecdsa.GenerateKey(elliptic.P256(), s.cfg.Rand)
	if err != nil {
		return store.JWTKey{}, fmt.Errorf("rot: generating JWT key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return store.JWTKey{}, fmt.Errorf("rot: encoding JWT key: %w", err)
	}
	kid, err := s.newID("jwt")
	if err != nil {
		return store.JWTKey{}, err
	}
	// Stored in the key provider's form (sealed under the KEK or the token's wrapping key).
	stored, err := s.opts.Seal(custody.JWTKeyName(kid), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	if err != nil {
		return store.JWTKey{}, fmt.Errorf("rot: sealing JWT key: %w", err)
	}
	return store.JWTKey{ID: kid, Created: now.UTC(), NotAfter: now.Add(jwtKeyTTL).UTC(), Key: stored}, nil
}

// RotateJWTKey makes a new JWT signing key current now; the old ones stay in the bundle until
// they expire.
func (s *Server) RotateJWTKey(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rotateJWTLocked(ctx, true)
}

func (s *Server) rotateJWTKey(w http.ResponseWriter, r *http.Request) {
	kid, err := s.RotateJWTKey(r.Context())
	if err != nil {
		writeError(w, storeStatus(err), err.Error())
		return
	}
	s.audit(r, "rotate-jwt-key", "kid", kid)
	writeJSON(w, http.StatusOK, rotapi.JWTKeyResponse{KeyID: kid})
}

// podCaller is the pod whose certificate made a request.
type podCaller struct {
	id       spiffeid.ID
	workload *workloadView
	notAfter time.Time
}

// podCallerOf checks the request's client certificate with podWorkload: a leaf with client-auth
// usage issued by a valid Workload CA of the workload its SPIFFE ID
// (spiffe://TD/workload/NAME/peer/PEER) names.
func (s *Server) podCallerOf(r *http.Request) (*podCaller, error) {
	workload, peer, err := s.podWorkload(r)
	if err != nil {
		return nil, err
	}
	v := s.v.Load()
	wv, ok := v.workloads[workload]
	if !ok {
		return nil, fmt.Errorf("rot: workload %q was deleted during the request", workload)
	}
	id, err := spiffeid.FromURI(spiffeID(v.td, workload, peer))
	if err != nil {
		return nil, fmt.Errorf("rot: %w", err)
	}
	return &podCaller{id: id, workload: wv, notAfter: r.TLS.PeerCertificates[0].NotAfter}, nil
}

// podRoute answers 401 without a client certificate and 403 with one that is not a pod's.
func (s *Server) podRoute(h func(http.ResponseWriter, *http.Request, *podCaller)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := s.podCallerOf(r)
		if err != nil {
			code := http.StatusForbidden
			if errors.Is(err, errNoPodCert) {
				code = http.StatusUnauthorized
			}
			s.log.Warn("pod request refused", "audit", true, "path", r.URL.Path, "remote", r.RemoteAddr, "err", err)
			writeError(w, code, err.Error())
			return
		}
		h(w, r, p)
	}
}

// mintJWTSVID answers POST /v1/jwt-svid: an ES256 JWT-SVID for the calling pod.
func (s *Server) mintJWTSVID(w http.ResponseWriter, r *http.Request, p *podCaller) {
	var req rotapi.JWTSVIDRequest
	if code, err := decodeBody(w, r, &req); err != nil {
		writeError(w, code, err.Error())
		return
	}
	if len(req.Audience) == 0 || len(req.Audience) > maxAudiences || slices.Contains(req.Audience, "") {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("rot: audience must list 1 to %d non-empty values", maxAudiences))
		return
	}
	k := s.v.Load().jwt
	if k == nil || k.signer == nil {
		writeError(w, http.StatusServiceUnavailable, "rot: no valid JWT signing key (the ROT rotates one in within the hour; fix: sealctl rotate jwt-key)")
		return
	}
	now := s.cfg.Now()
	exp := now.Add(jwtSVIDTTL)
	if p.notAfter.Before(exp) {
		exp = p.notAfter
	}
	tok, err := signJWT(k, p.id.String(), req.Audience, now, exp)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	s.metrics.issuances.WithLabelValues("jwt-svid").Inc()
	s.log.Info("issued JWT-SVID", "audit", true, "spiffeID", p.id.String(), "audience", req.Audience, "kid", k.kid, "expiresAt", exp.UTC())
	writeJSON(w, http.StatusOK, rotapi.JWTSVIDResponse{SPIFFEID: p.id.String(), Token: tok, ExpiresAt: exp.UTC()})
}

func signJWT(k *jwtKeys, sub string, aud []string, now, exp time.Time) (string, error) {
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: k.signer, KeyID: k.kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", fmt.Errorf("rot: JWT signer: %w", err)
	}
	tok, err := jwt.Signed(sig).Claims(jwt.Claims{Subject: sub, Audience: aud, IssuedAt: jwt.NewNumericDate(now),
		Expiry: jwt.NewNumericDate(exp)}).Serialize()
	if err != nil {
		return "", fmt.Errorf("rot: signing JWT-SVID: %w", err)
	}
	return tok, nil
}

// jwtBundles answers GET /v1/jwt-bundles: the JWKS of this trust domain and of every trust
// domain the caller's workload federates with that publishes JWT authorities.
func (s *Server) jwtBundles(w http.ResponseWriter, _ *http.Request, p *podCaller) {
	v := s.v.Load()
	out := rotapi.JWTBundlesResponse{Bundles: map[string]json.RawMessage{}}
	own, err := jwtbundle.FromJWTAuthorities(v.td, v.jwt.public).Marshal()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "rot: encoding JWT bundle: "+err.Error())
		return
	}
	out.Bundles[v.td.Name()] = own
	s.mu.Lock()
	stored := make(map[string]string, len(p.workload.federates))
	for _, td := range p.workload.federates {
		if b, ok := s.st.Bundles[td]; ok {
			stored[td] = b.Bundle
		}
	}
	s.mu.Unlock()
	for td, doc := range stored {
		if b, err := federatedJWT(td, doc); err == nil && b != nil {
			out.Bundles[td] = b
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// federatedJWT is the JWKS of a stored federated bundle's JWT authorities, nil when it has none.
func federatedJWT(name, doc string) ([]byte, error) {
	td, err := spiffeid.TrustDomainFromString(name)
	if err != nil {
		return nil, err
	}
	sb, err := spiffebundle.Parse(td, []byte(doc))
	if err != nil || len(sb.JWTAuthorities()) == 0 {
		return nil, err
	}
	return jwtbundle.FromJWTAuthorities(td, sb.JWTAuthorities()).Marshal()
}
