package rot

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/store"
)

// TestRedeemsReleaseEggs upgrades in place: a ROT of this build opens the state directory the
// v0.1.0 release wrote (internal/store/testdata/state-v0.1.0), and the Eggs that release minted
// behave as they did: the live one redeems, the revoked one does not. The clock is fixed
// inside the Eggs' lifetime, so the test holds whatever day it runs.
func TestRedeemsReleaseEggs(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join("..", "store", "testdata", "state-v0.1.0")
	if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	s, err := New(context.Background(), Config{
		Store: st, TrustDomain: "format.example.org", ExternalURL: "https://127.0.0.1:18443",
		Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatalf("New on the release's state: %v", err)
	}
	tests := []struct {
		name     string
		eggFile  string
		wantCode int
		wantID   string
	}{
		{name: "live egg redeems", eggFile: "state-v0.1.0-egg-api.txt", wantCode: http.StatusOK,
			wantID: "spiffe://format.example.org/workload/payments/peer/api"},
		{name: "revoked egg stays revoked", eggFile: "state-v0.1.0-egg-db-revoked.txt", wantCode: http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			egg, err := os.ReadFile(filepath.Join("..", "store", "testdata", tt.eggFile))
			if err != nil {
				t.Fatal(err)
			}
			key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "pod"}}, key)
			body, _ := json.Marshal(rotapi.RedeemRequest{
				Egg: strings.TrimSpace(string(egg)),
				CSR: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})),
			})
			rec := httptest.NewRecorder()
			s.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/redeem", strings.NewReader(string(body))))
			if rec.Code != tt.wantCode {
				t.Fatalf("status = %d (%s), want %d", rec.Code, rec.Body, tt.wantCode)
			}
			if tt.wantID == "" {
				return
			}
			var resp rotapi.RedeemResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
				t.Fatal(err)
			}
			b, _ := pem.Decode([]byte(resp.Certificate))
			cert, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			if len(cert.URIs) != 1 || cert.URIs[0].String() != tt.wantID {
				t.Errorf("SPIFFE ID = %v, want %s", cert.URIs, tt.wantID)
			}
			if len(resp.DataKeys) != 2 {
				t.Errorf("data keys = %d, want the release's 2", len(resp.DataKeys))
			}
		})
	}
}
