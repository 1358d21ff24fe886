package rot_test

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2/transport"

	"github.com/seal-dev/seal/internal/attest"
	"github.com/seal-dev/seal/internal/rot/rottest"
	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/testing/swtpm"
)

// attested is a ROT with a registered AK of a real swtpm and workloads with and without a
// policy of that TPM's PCR 0 and 7 values.
type attested struct {
	r      *rottest.ROT
	clk    *clock
	tpm    transport.TPMCloser
	pcrs   map[int][]byte
	client *rotapi.Client
}

func startAttested(t testing.TB, opts ...rottest.Option) *attested {
	t.Helper()
	sw := swtpm.Start(t)
	tp, err := attest.OpenTPM(sw.Spec())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tp.Close() })
	ak, _, err := attest.EnrollAK(tp, attest.DefaultAKHandle)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := attest.EnrollAK(tp, attest.DefaultAKHandle+1); err != nil { // not registered
		t.Fatal(err)
	}
	pcrs, err := attest.ReadPCRs(tp, []int{0, 7})
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Now()}
	r := rottest.Start(t, append([]rottest.Option{rottest.WithClock(clk.Now)}, opts...)...)
	a := &attested{r: r, clk: clk, tpm: tp, pcrs: pcrs, client: r.Client(t, nil)}
	admin(t, r, http.MethodPost, rotapi.PathAttestationKeys, rotapi.AttestationKey{Name: "node-1", AKPub: ak})
	admin(t, r, http.MethodPost, rotapi.PathAttestationPolicies, rotapi.AttestationPolicy{Name: "prod", PCRs: map[string]string{
		"0": hex.EncodeToString(pcrs[0]), "7": hex.EncodeToString(pcrs[7])}})
	other := make([]byte, 32)
	other[31] = 1
	admin(t, r, http.MethodPost, rotapi.PathAttestationPolicies, rotapi.AttestationPolicy{Name: "strict", PCRs: map[string]string{
		"0": hex.EncodeToString(pcrs[0]), "7": hex.EncodeToString(other)}})
	r.CreateWorkload(t, rotapi.Workload{Name: "vault", Attest: "prod"})
	r.CreateWorkload(t, rotapi.Workload{Name: "strict", Attest: "strict"})
	r.CreateWorkload(t, rotapi.Workload{Name: "plain"})
	return a
}

func admin(t testing.TB, r *rottest.ROT, method, path string, in any) {
	t.Helper()
	if err := r.Admin.Do(ctx(t), method, path, in, nil); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
}

// evidence asks the ROT for a challenge for eggText and quotes with the AK at handle.
func (a *attested) evidence(t *testing.T, eggText string, handle uint32) *rotapi.Evidence {
	t.Helper()
	ch, err := a.client.Challenge(ctx(t), eggText)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(ch.PCRs) != "[0 7]" && fmt.Sprint(ch.PCRs) != "[]" {
		t.Errorf("challenge PCRs = %v, want the policy's [0 7]", ch.PCRs)
	}
	nonce, _ := base64.StdEncoding.DecodeString(ch.Nonce)
	ev, err := attest.Quote(a.tpm, handle, nonce, []int{0, 7})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestAttestedRedemption(t *testing.T) {
	a := startAttested(t)
	csr := csrFor(t, p256(t), nil)
	egg := func(w string) string { return a.r.MintEgg(t, w, rotapi.MintRequest{}) }
	tests := []struct {
		name     string
		egg      string
		ev       func(t *testing.T, eggText string) *rotapi.Evidence
		wantCode int
		wantErr  string
	}{
		{name: "good quote", egg: egg("vault"), ev: func(t *testing.T, e string) *rotapi.Evidence { return a.evidence(t, e, attest.DefaultAKHandle) }, wantCode: 200},
		{name: "no policy, no evidence: as before", egg: egg("plain"), ev: func(*testing.T, string) *rotapi.Evidence { return nil }, wantCode: 200},
		{name: "no evidence", egg: egg("vault"), ev: func(*testing.T, string) *rotapi.Evidence { return nil }, wantCode: 403, wantErr: "attestation refused: attest: no evidence"},
		{name: "wrong PCR value", egg: egg("strict"), ev: func(t *testing.T, e string) *rotapi.Evidence { return a.evidence(t, e, attest.DefaultAKHandle) },
			wantCode: 403, wantErr: "PCR 7 mismatch"},
		{name: "unregistered AK", egg: egg("vault"), ev: func(t *testing.T, e string) *rotapi.Evidence { return a.evidence(t, e, attest.DefaultAKHandle+1) },
			wantCode: 403, wantErr: "unknown AK"},
		{name: "quote signed by another key", egg: egg("vault"), ev: func(t *testing.T, e string) *rotapi.Evidence {
			good := a.evidence(t, e, attest.DefaultAKHandle)
			ev := a.evidence(t, e, attest.DefaultAKHandle+1)
			ev.AKPub = good.AKPub
			return ev
		}, wantCode: 403, wantErr: "bad signature"},
		{name: "reused nonce", egg: egg("vault"), ev: func(t *testing.T, e string) *rotapi.Evidence {
			ev := a.evidence(t, e, attest.DefaultAKHandle)
			if _, err := a.client.Redeem(ctx(t), &rotapi.RedeemRequest{Egg: e, CSR: csr, Evidence: ev}); err != nil {
				t.Fatalf("first use: %v", err)
			}
			return ev
		}, wantCode: 403, wantErr: "nonce reused"},
		{name: "expired nonce", egg: egg("vault"), ev: func(t *testing.T, e string) *rotapi.Evidence {
			ev := a.evidence(t, e, attest.DefaultAKHandle)
			a.clk.Advance(61 * time.Second)
			return ev
		}, wantCode: 403, wantErr: "nonce expired"},
		{name: "nonce of another Egg", egg: egg("vault"), ev: func(t *testing.T, e string) *rotapi.Evidence {
			return a.evidence(t, egg("vault"), attest.DefaultAKHandle)
		}, wantCode: 403, wantErr: "nonce of another Egg"},
		{name: "truncated quote", egg: egg("vault"), ev: func(t *testing.T, e string) *rotapi.Evidence {
			ev := a.evidence(t, e, attest.DefaultAKHandle)
			raw, _ := base64.StdEncoding.DecodeString(ev.Quote)
			ev.Quote = base64.StdEncoding.EncodeToString(raw[:len(raw)/2])
			return ev
		}, wantCode: 403, wantErr: "malformed quote"},
		{name: "truncated signature", egg: egg("vault"), ev: func(t *testing.T, e string) *rotapi.Evidence {
			ev := a.evidence(t, e, attest.DefaultAKHandle)
			raw, _ := base64.StdEncoding.DecodeString(ev.Signature)
			ev.Signature = base64.StdEncoding.EncodeToString(raw[:10])
			return ev
		}, wantCode: 403, wantErr: "malformed quote"},
		{name: "reported PCR value not the quoted one", egg: egg("vault"), ev: func(t *testing.T, e string) *rotapi.Evidence {
			ev := a.evidence(t, e, attest.DefaultAKHandle)
			ev.PCRs["sha256"]["7"] = strings.Repeat("ab", 32)
			return ev
		}, wantCode: 403, wantErr: "PCR digest mismatch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, _ := json.Marshal(rotapi.RedeemRequest{Egg: tt.egg, CSR: csr, Evidence: tt.ev(t, tt.egg)})
			code, msg := post(t, a.client, rotapi.PathRedeem, body)
			if code != tt.wantCode || !strings.Contains(msg, tt.wantErr) {
				t.Fatalf("got %d %q, want %d with %q", code, msg, tt.wantCode, tt.wantErr)
			}
			if code == 403 && !strings.Contains(msg, "fix:") {
				t.Errorf("refusal %q does not say the fix", msg)
			}
		})
	}
}

func TestAttestationAdmin(t *testing.T) {
	r := rottest.Start(t)
	tests := []struct {
		name, method, path string
		body               any
		wantCode           int
		wantErr            string
	}{
		{"workload naming a missing policy", http.MethodPost, rotapi.PathWorkloads, rotapi.Workload{Name: "w", Attest: "nope"}, 400, `attestation policy "nope" does not exist`},
		{"policy value not hex", http.MethodPost, rotapi.PathAttestationPolicies, rotapi.AttestationPolicy{Name: "p", PCRs: map[string]string{"7": "xyz"}}, 400, "PCR 7 value"},
		{"policy index out of range", http.MethodPost, rotapi.PathAttestationPolicies, rotapi.AttestationPolicy{Name: "p", PCRs: map[string]string{"24": strings.Repeat("00", 32)}}, 400, `PCR index "24"`},
		{"policy without values", http.MethodPost, rotapi.PathAttestationPolicies, rotapi.AttestationPolicy{Name: "p"}, 400, "has no PCR values"},
		{"key not PEM", http.MethodPost, rotapi.PathAttestationKeys, rotapi.AttestationKey{Name: "k", AKPub: "hello"}, 400, "not a PEM PUBLIC KEY"},
		{"key bad name", http.MethodPost, rotapi.PathAttestationKeys, rotapi.AttestationKey{Name: "../k", AKPub: "hello"}, 400, "attestation key name"},
		{"delete missing key", http.MethodDelete, rotapi.Path(rotapi.PathAttestationKey, "k"), nil, 404, `attestation key "k"`},
		{"delete missing policy", http.MethodDelete, rotapi.Path(rotapi.PathAttestationPolicy, "p"), nil, 404, `attestation policy "p"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := r.Admin.Do(ctx(t), tt.method, tt.path, tt.body, nil)
			se, ok := err.(*rotapi.StatusError)
			if !ok || se.Code != tt.wantCode || !strings.Contains(se.Message, tt.wantErr) {
				t.Errorf("got %v, want %d with %q", err, tt.wantCode, tt.wantErr)
			}
		})
	}
}

// TestAttestChallengesBounded: 1,000 concurrent challenges hold at most the configured number
// of nonces; the rest are refused with 429, and expired nonces are dropped.
func TestAttestChallengesBounded(t *testing.T) {
	clk := &clock{t: time.Now()}
	r := rottest.Start(t, rottest.WithClock(clk.Now), rottest.WithAttestNonces(attest.NonceOptions{Max: 100, TTL: time.Minute}))
	r.CreateWorkload(t, rotapi.Workload{Name: "w"})
	eggs := make([]string, 20)
	for i := range eggs {
		eggs[i] = r.MintEgg(t, "w", rotapi.MintRequest{})
	}
	c := r.Client(t, nil)
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 50)
	for i := range 1000 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			body, _ := json.Marshal(rotapi.ChallengeRequest{Egg: eggs[i%len(eggs)]})
			code, _ := post(t, c, rotapi.PathAttestChallenge, body)
			mu.Lock()
			codes[code]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	// At most Max (100) held; the rest are told to come back (429), none is another error.
	if codes[200] != 100 || codes[200]+codes[http.StatusTooManyRequests] != 1000 {
		t.Errorf("answers %v, want 100 nonces and 900 busy", codes)
	}
	if n := r.Server.AttestNonces(); n > 100 {
		t.Errorf("%d nonces held after 1000 challenges by 20 Eggs, want at most 100", n)
	}
	clk.Advance(time.Minute)
	body, _ := json.Marshal(rotapi.ChallengeRequest{Egg: eggs[0]})
	if code, msg := post(t, c, rotapi.PathAttestChallenge, body); code != 200 {
		t.Fatalf("after expiry: %d %s", code, msg)
	}
	if n := r.Server.AttestNonces(); n != 1 {
		t.Errorf("%d nonces held after they expired, want 1", n)
	}
	// A revoked Egg: no nonce.
	revoked := r.MintEggInfo(t, "w", rotapi.MintRequest{})
	r.RevokeEgg(t, revoked.ID)
	body, _ = json.Marshal(rotapi.ChallengeRequest{Egg: revoked.Egg})
	if code, msg := post(t, c, rotapi.PathAttestChallenge, body); code != 403 || !strings.Contains(msg, "revoked") {
		t.Errorf("challenge for a revoked Egg: %d %q, want 403 revoked", code, msg)
	}
	// Not an Egg of this ROT: no nonce.
	body, _ = json.Marshal(rotapi.ChallengeRequest{Egg: "hello"})
	if code, msg := post(t, c, rotapi.PathAttestChallenge, body); code != 400 || !strings.Contains(msg, "attest:") {
		t.Errorf("challenge for a non-Egg: %d %q, want 400", code, msg)
	}
}
