package attest_test

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2/transport"

	"github.com/seal-dev/seal/internal/attest"
	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/testing/swtpm"
)

var update = flag.Bool("update", false, "rewrite testdata/evidence.json from a real swtpm quote")

// machine is a real swtpm with an enrolled AK, and a ROT-side checker that knows it.
type machine struct {
	tpm     transport.TPMCloser
	akPEM   string
	keys    *attest.KeySet
	policy  *attest.Policy
	nonces  *attest.Nonces
	checker *attest.Checker
	clock   *clock
}

func newMachine(t *testing.T) *machine {
	t.Helper()
	sw := swtpm.Start(t)
	tp, err := attest.OpenTPM(sw.Spec())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tp.Close() })
	ak, created, err := attest.EnrollAK(tp, attest.DefaultAKHandle)
	if err != nil || !created {
		t.Fatalf("EnrollAK = created %v, %v; want a new AK", created, err)
	}
	again, created, err := attest.EnrollAK(tp, attest.DefaultAKHandle)
	if err != nil || created || again != ak {
		t.Fatalf("EnrollAK again = created %v, same key %v, %v; want the persisted AK reused", created, again == ak, err)
	}
	keys, err := attest.NewKeySet(map[string]string{"node-1": ak})
	if err != nil {
		t.Fatal(err)
	}
	vals, err := attest.ReadPCRs(tp, []int{0, 7})
	if err != nil {
		t.Fatal(err)
	}
	c := newClock()
	n := attest.NewNonces(attest.NonceOptions{TTL: time.Minute, Now: c.Now})
	return &machine{tpm: tp, akPEM: ak, keys: keys, policy: &attest.Policy{Name: "prod", PCRs: vals},
		nonces: n, checker: attest.NewChecker(n), clock: c}
}

func (m *machine) quote(t *testing.T, egg string, handle uint32) *rotapi.Evidence {
	t.Helper()
	nonce, _, err := m.nonces.Issue(egg)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := attest.Quote(m.tpm, handle, nonce, m.policy.Indices())
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestTPM2Quote(t *testing.T) {
	m := newMachine(t)
	// A second AK in the same TPM, not registered.
	other, _, err := attest.EnrollAK(m.tpm, attest.DefaultAKHandle+1)
	if err != nil {
		t.Fatal(err)
	}
	if other == m.akPEM {
		t.Fatal("the second AK is the first one")
	}
	tests := []struct {
		name    string
		egg     string // the redeeming Egg; default egg-a
		ev      func(t *testing.T) *rotapi.Evidence
		policy  func(p *attest.Policy) *attest.Policy
		want    error
		wantMsg string
	}{
		{name: "good quote", ev: func(t *testing.T) *rotapi.Evidence { return m.quote(t, "egg-a", attest.DefaultAKHandle) }},
		{name: "no evidence", ev: func(t *testing.T) *rotapi.Evidence { return nil }, want: attest.ErrNoEvidence},
		{name: "wrong PCR value", ev: func(t *testing.T) *rotapi.Evidence { return m.quote(t, "egg-a", attest.DefaultAKHandle) },
			policy: func(p *attest.Policy) *attest.Policy {
				q := &attest.Policy{Name: p.Name, PCRs: map[int][]byte{0: p.PCRs[0], 7: make([]byte, 32)}}
				q.PCRs[7][0] = 1
				return q
			}, want: attest.ErrPCRMismatch, wantMsg: "PCR 7 mismatch"},
		{name: "policy PCR not quoted", ev: func(t *testing.T) *rotapi.Evidence { return m.quote(t, "egg-a", attest.DefaultAKHandle) },
			policy: func(p *attest.Policy) *attest.Policy {
				return &attest.Policy{Name: p.Name, PCRs: map[int][]byte{0: p.PCRs[0], 7: p.PCRs[7], 8: p.PCRs[7]}}
			}, want: attest.ErrPCRMismatch, wantMsg: "PCR 8 is not quoted"},
		{name: "unregistered AK", ev: func(t *testing.T) *rotapi.Evidence { return m.quote(t, "egg-a", attest.DefaultAKHandle+1) },
			want: attest.ErrUnknownAK},
		{name: "quote signed by another key", ev: func(t *testing.T) *rotapi.Evidence {
			ev := m.quote(t, "egg-a", attest.DefaultAKHandle+1)
			ev.AKPub = m.akPEM // claims the registered AK
			return ev
		}, want: attest.ErrBadSignature},
		{name: "reused nonce", ev: func(t *testing.T) *rotapi.Evidence {
			ev := m.quote(t, "egg-a", attest.DefaultAKHandle)
			if err := m.checker.Check("egg-a", ev, m.keys, m.policy); err != nil {
				t.Fatalf("first use: %v", err)
			}
			return ev
		}, want: attest.ErrNonceReused},
		{name: "expired nonce", ev: func(t *testing.T) *rotapi.Evidence {
			ev := m.quote(t, "egg-a", attest.DefaultAKHandle)
			m.clock.Add(61 * time.Second)
			return ev
		}, want: attest.ErrNonceExpired},
		{name: "nonce of another Egg", egg: "egg-b", ev: func(t *testing.T) *rotapi.Evidence {
			return m.quote(t, "egg-a", attest.DefaultAKHandle)
		}, want: attest.ErrNonceOtherEgg},
		{name: "quote over another nonce", ev: func(t *testing.T) *rotapi.Evidence {
			ev := m.quote(t, "egg-a", attest.DefaultAKHandle)
			fresh, _, _ := m.nonces.Issue("egg-a")
			ev.Nonce = base64.StdEncoding.EncodeToString(fresh)
			return ev
		}, want: attest.ErrNonceMismatch},
		{name: "reported PCR value not the quoted one", ev: func(t *testing.T) *rotapi.Evidence {
			ev := m.quote(t, "egg-a", attest.DefaultAKHandle)
			ev.PCRs["sha256"]["7"] = hex.EncodeToString(m.policy.PCRs[7][:31]) + "ff"
			return ev
		}, want: attest.ErrPCRDigest},
		{name: "truncated quote", ev: func(t *testing.T) *rotapi.Evidence {
			ev := m.quote(t, "egg-a", attest.DefaultAKHandle)
			raw, _ := base64.StdEncoding.DecodeString(ev.Quote)
			ev.Quote = base64.StdEncoding.EncodeToString(raw[:len(raw)-5])
			return ev
		}, want: attest.ErrMalformed},
		{name: "truncated signature", ev: func(t *testing.T) *rotapi.Evidence {
			ev := m.quote(t, "egg-a", attest.DefaultAKHandle)
			raw, _ := base64.StdEncoding.DecodeString(ev.Signature)
			ev.Signature = base64.StdEncoding.EncodeToString(raw[:len(raw)-5])
			return ev
		}, want: attest.ErrMalformed},
		{name: "quote with trailing bytes", ev: func(t *testing.T) *rotapi.Evidence {
			ev := m.quote(t, "egg-a", attest.DefaultAKHandle)
			raw, _ := base64.StdEncoding.DecodeString(ev.Quote)
			ev.Quote = base64.StdEncoding.EncodeToString(append(raw, 0))
			return ev
		}, want: attest.ErrMalformed},
		{name: "unsupported type", ev: func(t *testing.T) *rotapi.Evidence {
			ev := m.quote(t, "egg-a", attest.DefaultAKHandle)
			ev.Type = "sev-snp"
			return ev
		}, want: attest.ErrUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			egg := tt.egg
			if egg == "" {
				egg = "egg-a"
			}
			p := m.policy
			if tt.policy != nil {
				p = tt.policy(p)
			}
			ev := tt.ev(t)
			err := m.checker.Check(egg, ev, m.keys, p)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Check = %v, want %v", err, tt.want)
			}
			if err != nil && !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("Check = %q, want it to say %q", err, tt.wantMsg)
			}
			if tt.name == "good quote" && *update {
				b, _ := json.MarshalIndent(ev, "", "  ")
				if err := os.WriteFile("testdata/evidence.json", append(b, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestEnrollRefusesNonPersistentHandle(t *testing.T) {
	// The handle is checked before the TPM is used.
	_, _, err := attest.EnrollAK(nil, 0x80000001)
	if err == nil || !strings.Contains(err.Error(), "not a persistent handle") {
		t.Errorf("EnrollAK(0x80000001) = %v, want a refusal naming the handle", err)
	}
}

// seed is the evidence of a real swtpm quote, kept in testdata (go test -run TestTPM2Quote -update).
func seed(t testing.TB) (*rotapi.Evidence, *attest.KeySet, *attest.Policy, []byte) {
	b, err := os.ReadFile("testdata/evidence.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev rotapi.Evidence
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	keys, err := attest.NewKeySet(map[string]string{"node-1": ev.AKPub})
	if err != nil {
		t.Fatal(err)
	}
	pcrs := map[string]string{}
	for k, v := range ev.PCRs["sha256"] {
		pcrs[k] = v
	}
	p, err := attest.ParsePolicy("prod", pcrs)
	if err != nil {
		t.Fatal(err)
	}
	nonce, _ := base64.StdEncoding.DecodeString(ev.Nonce)
	return &ev, keys, p, nonce
}

func TestSeedVerifies(t *testing.T) {
	ev, keys, p, nonce := seed(t)
	if err := (attest.TPM2{}).Verify(ev, nonce, keys, p); err != nil {
		t.Fatalf("the stored real quote: %v", err)
	}
}

// BenchmarkVerifyTPM2 is what a verified quote adds to a redemption: the nonce consumed, the
// evidence parsed and the signature and PCRs checked.
func BenchmarkVerifyTPM2(b *testing.B) {
	ev, keys, p, nonce := seed(b)
	n := attest.NewNonces(attest.NonceOptions{})
	for b.Loop() {
		fresh, _, _ := n.Issue("egg")
		if err := n.Consume("egg", fresh); err != nil {
			b.Fatal(err)
		}
		if err := (attest.TPM2{}).Verify(ev, nonce, keys, p); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzEvidence(f *testing.F) {
	ev, keys, p, nonce := seed(f)
	f.Add(ev.AKPub, ev.Quote, ev.Signature, ev.PCRs["sha256"]["0"], ev.PCRs["sha256"]["7"])
	raw, _ := base64.StdEncoding.DecodeString(ev.Quote)
	f.Add(ev.AKPub, base64.StdEncoding.EncodeToString(raw[:20]), ev.Signature, "", "00")
	f.Add("", "", "", "", "")
	f.Fuzz(func(t *testing.T, ak, quote, sig, pcr0, pcr7 string) {
		e := &rotapi.Evidence{Type: rotapi.EvidenceTPM2, Nonce: ev.Nonce, AKPub: ak, Quote: quote, Signature: sig,
			PCRs: map[string]map[string]string{"sha256": {"0": pcr0, strconv.Itoa(7): pcr7}}}
		err := (attest.TPM2{}).Verify(e, nonce, keys, p)
		if err == nil && (ak != ev.AKPub || quote != ev.Quote || pcr0 != ev.PCRs["sha256"]["0"] || pcr7 != ev.PCRs["sha256"]["7"]) {
			// A different encoding of the same key, signature or values may verify; a
			// different quote must not.
			raw2, _ := base64.StdEncoding.DecodeString(quote)
			if string(raw2) != string(raw) {
				t.Errorf("a changed quote verified")
			}
		}
	})
}
