package rot_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/seal-dev/seal/internal/rot/rottest"
	"github.com/seal-dev/seal/internal/rotapi"
)

// FuzzRedeem: whatever the body, the redeem handler answers 200 with a certificate or a
// 4xx/5xx with a JSON {"error"}: never a panic, never an empty answer.
func FuzzRedeem(f *testing.F) {
	r := rottest.Start(f)
	r.CreateWorkload(f, rotapi.Workload{Name: "w", Peers: []string{"any", "api"}, RouteHosts: []string{"a.example"}})
	good := r.MintEgg(f, "w", rotapi.MintRequest{Hostnames: []string{"a.example"}})
	csr := csrFor(f, p256(f), nil)
	for _, req := range []rotapi.RedeemRequest{
		{Egg: good, CSR: csr},
		{Egg: good, CSR: csr, Hostnames: []string{"a.example", "", "A.EXAMPLE"}, FederatesWith: []string{"x"}},
		{Egg: good[:len(good)/2], CSR: csr},
		{Egg: good, CSR: csr[:len(csr)/2]},
		{},
	} {
		b, _ := json.Marshal(req)
		f.Add(b)
	}
	for _, s := range []string{`{"egg":1}`, `[]`, ``, `{"egg":"seal-egg-v1.e30"}`, `{} {}`} {
		f.Add([]byte(s))
	}
	h := r.Server.Handler() // the real handler, without TLS, so the fuzzer runs fast
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, rotapi.PathRedeem, bytes.NewReader(body)))
		if rec.Code == http.StatusOK {
			var out rotapi.RedeemResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Certificate == "" || out.SPIFFEID == "" {
				t.Fatalf("200 without a certificate: %v %q", err, rec.Body)
			}
			return
		}
		var e rotapi.Error
		if rec.Code < 400 || json.Unmarshal(rec.Body.Bytes(), &e) != nil || e.Error == "" {
			t.Fatalf("answer %d %q is not a JSON error", rec.Code, rec.Body)
		}
	})
}
