package rot_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seal-dev/seal/internal/egg"
	"github.com/seal-dev/seal/internal/rot/rottest"
	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/store"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// authority reads the test ROT's stored authority (egg keyring) to forge Eggs the way only
// someone holding the ROT's key could.
func authority(t *testing.T, r *rottest.ROT) *store.Authority {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(r.StateDir, "authority.json"))
	if err != nil {
		t.Fatal(err)
	}
	var a store.Authority
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatal(err)
	}
	return &a
}

func sealEgg(t *testing.T, kr *egg.Keyring, r *rottest.ROT, td string, c egg.Claims) string {
	t.Helper()
	o, err := egg.Seal(kr, r.URL, string(r.CAPEM), td, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	return o.String()
}

func TestRedeemRefusals(t *testing.T) {
	clk := &clock{t: time.Now()}
	r := rottest.Start(t, rottest.WithClock(clk.Now))
	other := rottest.Start(t, rottest.WithTrustDomain("other.seal.dev"))
	sameTD := rottest.Start(t) // same trust domain, its own keys
	r.CreateWorkload(t, rotapi.Workload{Name: "payments", Peers: []string{"api"}})
	other.CreateWorkload(t, rotapi.Workload{Name: "payments", Peers: []string{"api"}})
	sameTD.CreateWorkload(t, rotapi.Workload{Name: "payments", Peers: []string{"api"}})

	good := r.MintEgg(t, "payments", rotapi.MintRequest{Peer: "api"})
	revoked := r.MintEggInfo(t, "payments", rotapi.MintRequest{Peer: "api"})
	r.RevokeEgg(t, revoked.ID)
	expiring := r.MintEgg(t, "payments", rotapi.MintRequest{Peer: "api", TTL: "1m"})

	a := authority(t, r)
	ghost := sealEgg(t, &a.EggKeys, r, r.TrustDomain, egg.Claims{ID: "egg-ghost", Workload: "ghost", Peer: "any", NotAfter: clk.Now().Add(time.Hour)})
	badPeer := sealEgg(t, &a.EggKeys, r, r.TrustDomain, egg.Claims{ID: "egg-peer", Workload: "payments", Peer: "db", NotAfter: clk.Now().Add(time.Hour)})
	// Their records appear after the ROT started (another replica minted them): the first
	// miss reloads the state and finds both.
	writeEggRecord(t, r.StateDir, store.Egg{ID: "egg-ghost", Workload: "ghost", Peer: "any"})
	writeEggRecord(t, r.StateDir, store.Egg{ID: "egg-peer", Workload: "payments", Peer: "db"})
	noRecord := sealEgg(t, &a.EggKeys, r, r.TrustDomain, egg.Claims{ID: "egg-norecord", Workload: "payments", Peer: "api", NotAfter: clk.Now().Add(time.Hour)})
	foreignKey := sealEgg(t, &egg.Keyring{Current: a.EggKeys.Current, Keys: map[string][]byte{a.EggKeys.Current: bytes.Repeat([]byte{7}, egg.KeySize)}},
		r, r.TrustDomain, egg.Claims{ID: "egg-forged", Workload: "payments", Peer: "api", NotAfter: clk.Now().Add(time.Hour)})

	o, _ := egg.Parse(good)
	o.ROT = "https://evil.example.com" // outer field bound as associated data
	tamperedOuter := o.String()
	o, _ = egg.Parse(good)
	ct, err := base64.RawURLEncoding.DecodeString(o.Ciphertext)
	if err != nil {
		t.Fatal(err)
	}
	ct[len(ct)/2] ^= 1 // one bit of the sealed claims
	o.Ciphertext = base64.RawURLEncoding.EncodeToString(ct)
	tamperedCT := o.String()

	key := p256(t)
	csr := csrFor(t, key, nil)
	sigDER := mustDER(t, csr) // one byte of the signature flipped
	sigDER[len(sigDER)-3] ^= 0xff
	badSig := pemCSR(sigDER)
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)

	tests := []struct {
		name     string
		egg, csr string
		raw      []byte // sent as the body instead of {egg,csr} when set
		advance  time.Duration
		wantCode int
		wantErr  string
	}{
		{name: "tampered ciphertext", egg: tamperedCT, csr: csr, wantCode: 403, wantErr: "not authentic"},
		{name: "tampered outer rot URL", egg: tamperedOuter, csr: csr, wantCode: 403, wantErr: "not authentic"},
		{name: "truncated", egg: good[:len(good)/2], csr: csr, wantCode: 400, wantErr: "malformed"},
		{name: "not an egg", egg: "hello", csr: csr, wantCode: 400, wantErr: "does not start with"},
		{name: "wrong trust domain", egg: other.MintEgg(t, "payments", rotapi.MintRequest{Peer: "api"}), csr: csr, wantCode: 403, wantErr: "wrong trust domain"},
		{name: "foreign key, unknown kid", egg: sameTD.MintEgg(t, "payments", rotapi.MintRequest{Peer: "api"}), csr: csr, wantCode: 403, wantErr: "unknown key"},
		{name: "foreign key, same kid", egg: foreignKey, csr: csr, wantCode: 403, wantErr: "not authentic"},
		{name: "revoked", egg: revoked.Egg, csr: csr, wantCode: 403, wantErr: "revoked"},
		{name: "unknown workload", egg: ghost, csr: csr, wantCode: 404, wantErr: `workload "ghost" does not exist`},
		{name: "peer not in workload", egg: badPeer, csr: csr, wantCode: 403, wantErr: `peer "db" is not a peer`},
		{name: "no egg record", egg: noRecord, csr: csr, wantCode: 403, wantErr: "egg egg-norecord has no record at this ROT"},
		{name: "CSR RSA-160000 CPU bomb", egg: good, csr: hugeRSACSR(t, 160000), wantCode: 400, wantErr: "RSA-160000 is over 4096 bits"},
		{name: "CSR bad signature", egg: good, csr: badSig, wantCode: 400, wantErr: "signature does not verify"},
		{name: "CSR RSA-1024", egg: good, csr: csrFor(t, rsa1024, nil), wantCode: 400, wantErr: "RSA-1024 is under 2048 bits"},
		{name: "CSR unsupported key P-224", egg: good, csr: csrFor(t, p224, nil), wantCode: 400, wantErr: "ECDSA curve P-224"},
		{name: "CSR not PEM", egg: good, csr: "MIIB", wantCode: 400, wantErr: "bad CSR: no PEM block"},
		{name: "CSR is a certificate", egg: good, csr: string(r.CAPEM), wantCode: 400, wantErr: "want CERTIFICATE REQUEST"},
		{name: "body not JSON", raw: []byte("{egg:"), wantCode: 400, wantErr: "not valid JSON"},
		{name: "body over the cap", raw: append(append([]byte(`{"egg":"`), bytes.Repeat([]byte("a"), rotapi.MaxBodyBytes)...), `"}`...), wantCode: 413, wantErr: "over the 65536-byte limit"},
		// Last: it moves the clock.
		{name: "expired", egg: expiring, csr: csr, advance: 2 * time.Minute, wantCode: 403, wantErr: "expired"},
	}
	c := r.Client(t, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk.Advance(tt.advance)
			body := tt.raw
			if body == nil {
				body, _ = json.Marshal(rotapi.RedeemRequest{Egg: tt.egg, CSR: tt.csr})
			}
			code, msg := post(t, c, rotapi.PathRedeem, body)
			if code != tt.wantCode || !strings.Contains(msg, tt.wantErr) {
				t.Errorf("got %d %q, want %d with %q", code, msg, tt.wantCode, tt.wantErr)
			}
		})
	}
	// The good Egg still works after all that.
	clk.Advance(-2 * time.Minute)
	if _, err := c.Redeem(ctx(t), &rotapi.RedeemRequest{Egg: good, CSR: csr}); err != nil {
		t.Errorf("good egg refused: %v", err)
	}
}

// post sends body and returns the status and the JSON error message (failing when an error
// answer is not JSON {"error":...}).
func post(t *testing.T, c *rotapi.Client, path string, body []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx(t), http.MethodPost, c.Base+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	var e rotapi.Error
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		t.Fatalf("answer %d is not JSON: %v", resp.StatusCode, err)
	}
	if resp.StatusCode/100 != 2 && e.Error == "" {
		t.Errorf("answer %d has an empty error", resp.StatusCode)
	}
	return resp.StatusCode, e.Error
}

func TestAdminRequiresAdminIdentity(t *testing.T) {
	r := rottest.Start(t)
	other := rottest.Start(t)
	r.CreateWorkload(t, rotapi.Workload{Name: "payments"})
	// A pod SVID: chains to the ROT CA through the Workload CA, but is not the admin.
	key := p256(t)
	resp, err := r.Client(t, nil).Redeem(ctx(t), &rotapi.RedeemRequest{Egg: r.MintEgg(t, "payments", rotapi.MintRequest{}), CSR: csrFor(t, key, nil)})
	if err != nil {
		t.Fatal(err)
	}
	svid, err := tls.X509KeyPair([]byte(resp.Certificate), pemKey(t, key))
	if err != nil {
		t.Fatal(err)
	}
	foreignAdmin, err := tls.LoadX509KeyPair(filepath.Join(other.AdminDir, "tls.crt"), filepath.Join(other.AdminDir, "tls.key"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		cert     *tls.Certificate
		wantCode int
		wantErr  string
	}{
		{"no client certificate", nil, http.StatusUnauthorized, "requires the admin client certificate"},
		{"pod SVID", &svid, http.StatusForbidden, "not an admin certificate"},
		{"another ROT's admin certificate", &foreignAdmin, http.StatusForbidden, "not an admin certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := r.Client(t, tt.cert)
			for _, call := range []struct{ method, path string }{
				{http.MethodGet, rotapi.PathWorkloads},
				{http.MethodPost, rotapi.Path(rotapi.PathEggs, "payments")},
				{http.MethodGet, rotapi.PathExport},
				{http.MethodDelete, rotapi.Path(rotapi.PathWorkload, "payments")},
			} {
				err := c.Do(ctx(t), call.method, call.path, struct{}{}, nil)
				var se *rotapi.StatusError
				if !errors.As(err, &se) || se.Code != tt.wantCode || !strings.Contains(se.Message, tt.wantErr) {
					t.Errorf("%s %s: got %v, want %d with %q", call.method, call.path, err, tt.wantCode, tt.wantErr)
				}
			}
		})
	}
	// And the workload is still there.
	var w rotapi.Workload
	if err := r.Admin.Do(ctx(t), http.MethodGet, rotapi.Path(rotapi.PathWorkload, "payments"), nil, &w); err != nil {
		t.Errorf("workload gone after refused deletes: %v", err)
	}
}
