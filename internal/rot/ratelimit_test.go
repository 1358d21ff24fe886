package rot_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/seal-dev/seal/internal/rot"
	"github.com/seal-dev/seal/internal/rot/rottest"
	"github.com/seal-dev/seal/internal/rotapi"
)

// postRedeem sends a redemption and returns the status, Retry-After and error message.
func postRedeem(t *testing.T, c *rotapi.Client, eggText, csr string) (int, string, string) {
	t.Helper()
	body, _ := json.Marshal(rotapi.RedeemRequest{Egg: eggText, CSR: csr})
	req, _ := http.NewRequestWithContext(ctx(t), http.MethodPost, c.Base+rotapi.PathRedeem, bytes.NewReader(body))
	resp, err := c.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e rotapi.Error
	_ = json.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode, resp.Header.Get("Retry-After"), e.Error
}

func metricsText(t *testing.T, r *rottest.ROT) string {
	t.Helper()
	resp, err := r.Client(t, nil).HTTP.Get(r.URL + rotapi.PathMetrics)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestRedeemRateLimitPerEgg(t *testing.T) {
	clk := &clock{t: time.Now()}
	r := rottest.Start(t, rottest.WithClock(clk.Now), rottest.WithRedeemLimits(rot.RedeemLimits{PerEgg: rot.RateLimit{Rate: 0.5, Burst: 2}}))
	r.CreateWorkload(t, rotapi.Workload{Name: "payments"})
	busy, other := r.MintEggInfo(t, "payments", rotapi.MintRequest{}), r.MintEgg(t, "payments", rotapi.MintRequest{})
	c, csr := r.Client(t, nil), csrFor(t, p256(t), nil)
	for i := range 2 {
		if code, _, msg := postRedeem(t, c, busy.Egg, csr); code != http.StatusOK {
			t.Fatalf("redemption %d within the burst: %d %s", i+1, code, msg)
		}
	}
	code, ra, msg := postRedeem(t, c, busy.Egg, csr)
	if code != http.StatusTooManyRequests || ra != "2" || !strings.Contains(msg, "egg "+busy.ID+" is redeemed too often") {
		t.Errorf("third redemption: got %d Retry-After %q %q, want 429, Retry-After 2, naming the egg", code, ra, msg)
	}
	if code, _, msg := postRedeem(t, c, other, csr); code != http.StatusOK {
		t.Errorf("another egg is limited with the busy one: %d %s", code, msg)
	}
	clk.Advance(2 * time.Second)
	if code, _, msg := postRedeem(t, c, busy.Egg, csr); code != http.StatusOK {
		t.Errorf("after Retry-After: %d %s", code, msg)
	}
	if m := metricsText(t, r); !strings.Contains(m, `seal_rot_redeem_rate_limited_total{reason="egg"} 1`) {
		t.Errorf("metrics lack the refusal:\n%s", grepLines(m, "rate_limited"))
	}
}

func TestRedeemRateLimitPerClient(t *testing.T) {
	clk := &clock{t: time.Now()}
	r := rottest.Start(t, rottest.WithClock(clk.Now), rottest.WithRedeemLimits(rot.RedeemLimits{PerClient: rot.RateLimit{Rate: 1, Burst: 3}}))
	r.CreateWorkload(t, rotapi.Workload{Name: "payments"})
	good := r.MintEgg(t, "payments", rotapi.MintRequest{})
	c, csr := r.Client(t, nil), csrFor(t, p256(t), nil)
	// Garbage costs tokens too: the limit is checked before the body is read.
	for range 3 {
		if code, _, _ := postRedeem(t, c, "not an egg", csr); code != http.StatusBadRequest {
			t.Fatalf("garbage within the burst: %d, want 400", code)
		}
	}
	code, ra, msg := postRedeem(t, c, good, csr)
	if code != http.StatusTooManyRequests || ra != "1" || !strings.Contains(msg, "too many requests from 127.0.0.1") {
		t.Errorf("over the client's burst: got %d Retry-After %q %q, want 429, Retry-After 1, naming the address", code, ra, msg)
	}
	clk.Advance(time.Second)
	if code, _, msg := postRedeem(t, c, good, csr); code != http.StatusOK {
		t.Errorf("after Retry-After: %d %s", code, msg)
	}
	if m := metricsText(t, r); !strings.Contains(m, `seal_rot_redeem_rate_limited_total{reason="client"} 1`) {
		t.Errorf("metrics lack the refusal:\n%s", grepLines(m, "rate_limited"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
