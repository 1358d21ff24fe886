package rot_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/seal-dev/seal/internal/podtoken/podtokentest"
	"github.com/seal-dev/seal/internal/rot/rottest"
	"github.com/seal-dev/seal/internal/rotapi"
)

// FuzzRedeemWithToken: for a bound workload, whatever the body, the redeem handler answers a
// certificate only with a token, a JSON error otherwise, never echoes the token, and never
// panics.
func FuzzRedeemWithToken(f *testing.F) {
	r := rottest.Start(f)
	iss := podtokentest.New(f, "https://kubernetes.default.svc", jose.ES256)
	addCluster(f, r, "prod", iss)
	r.CreateWorkload(f, rotapi.Workload{Name: "w", Bindings: []rotapi.Binding{{Cluster: "prod", Namespace: "payments", ServiceAccount: "*"}}})
	eggText := r.MintEgg(f, "w", rotapi.MintRequest{})
	csr := csrFor(f, p256(f), nil)
	good := iss.Token(f, time.Now(), "payments", "api", "api-0")
	for _, tok := range []string{good, good[:len(good)-5], iss.Token(f, time.Now(), "default", "api", ""), "a.b.c", "", strings.Repeat("e", 9000)} {
		b, _ := json.Marshal(rotapi.RedeemRequest{Egg: eggText, CSR: csr, Token: tok})
		f.Add(b)
	}
	h := r.Server.Handler()
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, rotapi.PathRedeem, bytes.NewReader(body)))
		var req rotapi.RedeemRequest
		_ = json.Unmarshal(body, &req)
		if rec.Code == http.StatusOK {
			if req.Token == "" {
				t.Fatalf("a bound workload redeemed without a token: %q", body)
			}
			return
		}
		var e rotapi.Error
		if rec.Code < 400 || json.Unmarshal(rec.Body.Bytes(), &e) != nil || e.Error == "" {
			t.Fatalf("answer %d %q is not a JSON error", rec.Code, rec.Body)
		}
		if len(req.Token) >= 40 && strings.Contains(e.Error, req.Token) {
			t.Fatalf("the answer echoes the token: %q", e.Error)
		}
	})
}
