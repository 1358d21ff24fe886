package rotapi

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// JWT-SVID paths: both need the pod's own certificate (mTLS).
const (
	PathJWTSVID      = "/v1/jwt-svid"             // POST mints a JWT-SVID for the calling pod
	PathJWTBundles   = "/v1/jwt-bundles"          // GET JWT bundles the calling pod trusts
	PathRotateJWTKey = "/v1/admin/rotate/jwt-key" // POST a new JWT signing key
)

// JWTSVIDRequest asks for a JWT-SVID of the pod whose certificate makes the call.
type JWTSVIDRequest struct {
	// Audience is the list of audiences (aud claim); at least one.
	Audience []string `json:"audience"`
}

// JWTSVIDResponse is a minted JWT-SVID.
type JWTSVIDResponse struct {
	SPIFFEID  string    `json:"spiffeID"`
	Token     string    `json:"token"` // JWS compact serialization
	ExpiresAt time.Time `json:"expiresAt"`
}

// JWTBundlesResponse holds JWKS documents (RFC 7517, the SPIFFE JWT bundle format) by trust
// domain name: the ROT's own and those of the trust domains the pod's workload federates with.
type JWTBundlesResponse struct {
	Bundles map[string]json.RawMessage `json:"bundles"`
}

// JWTKeyResponse names the JWT signing key a rotation created.
type JWTKeyResponse struct {
	KeyID string `json:"keyID"`
}

// FetchJWTSVID calls POST /v1/jwt-svid (the client must present the pod's certificate).
func (c *Client) FetchJWTSVID(ctx context.Context, audience []string) (*JWTSVIDResponse, error) {
	var out JWTSVIDResponse
	if err := c.Do(ctx, http.MethodPost, PathJWTSVID, &JWTSVIDRequest{Audience: audience}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// JWTBundles calls GET /v1/jwt-bundles (the client must present the pod's certificate).
func (c *Client) JWTBundles(ctx context.Context) (map[string][]byte, error) {
	var out JWTBundlesResponse
	if err := c.Do(ctx, http.MethodGet, PathJWTBundles, nil, &out); err != nil {
		return nil, err
	}
	m := make(map[string][]byte, len(out.Bundles))
	for td, doc := range out.Bundles {
		m[td] = doc
	}
	return m, nil
}
