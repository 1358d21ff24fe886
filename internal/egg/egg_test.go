package egg_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/seal-dev/seal/internal/egg"
)

var now = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func keyring(b byte) *egg.Keyring {
	return &egg.Keyring{Current: "k1", Keys: map[string][]byte{"k1": bytes.Repeat([]byte{b}, egg.KeySize)}}
}

func mint(t testing.TB, kr *egg.Keyring, td string, c egg.Claims) string {
	t.Helper()
	o, err := egg.Seal(kr, "https://rot.example:8443", "-----BEGIN CERTIFICATE-----\n...", td, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	return o.String()
}

func TestSealOpen(t *testing.T) {
	claims := egg.Claims{ID: "egg-1", Workload: "w", Peer: "any", NotAfter: now.Add(time.Hour), Hostnames: []string{"a.example"}}
	good := mint(t, keyring(1), "td.example", claims)
	rotated := &egg.Keyring{Current: "k2", Keys: map[string][]byte{"k1": keyring(1).Keys["k1"], "k2": bytes.Repeat([]byte{2}, egg.KeySize)}}
	tests := []struct {
		name    string
		text    string
		kr      *egg.Keyring
		at      time.Time
		wantErr error
	}{
		{"valid", good, keyring(1), now, nil},
		{"valid with trailing newline", good + "\n", keyring(1), now, nil},
		{"valid after key rotation", good, rotated, now, nil},
		{"expired", good, keyring(1), now.Add(time.Hour), egg.ErrExpired},
		{"foreign key", good, keyring(9), now, egg.ErrInauthentic},
		{"unknown kid", good, &egg.Keyring{Current: "k3", Keys: map[string][]byte{"k3": keyring(1).Keys["k1"]}}, now, egg.ErrUnknownKey},
		{"wrong trust domain", mint(t, keyring(1), "other.example", claims), keyring(1), now, egg.ErrWrongTrustDomain},
		{"truncated", good[:len(good)-10], keyring(1), now, egg.ErrMalformed},
		{"no prefix", strings.TrimPrefix(good, egg.Prefix), keyring(1), now, egg.ErrMalformed},
		{"too long", egg.Prefix + strings.Repeat("A", egg.MaxLen), keyring(1), now, egg.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := egg.Parse(tt.text)
			if err == nil {
				var c *egg.Claims
				c, err = egg.Open(tt.kr, "td.example", o, tt.at)
				if err == nil && (c.ID != claims.ID || c.Workload != "w" || c.Hostnames[0] != "a.example") {
					t.Errorf("claims = %+v, want %+v", c, claims)
				}
			}
			if !errors.Is(err, tt.wantErr) && (err != nil || tt.wantErr != nil) {
				t.Errorf("got %v, want %v", err, tt.wantErr)
			}
		})
	}
}

// FuzzParse: Parse never panics, and whatever it accepts re-encodes to an Egg that parses to
// the same envelope.
func FuzzParse(f *testing.F) {
	good := mint(f, keyring(1), "td.example", egg.Claims{ID: "egg-1", Workload: "w", Peer: "any", NotAfter: now.Add(time.Hour)})
	for _, s := range []string{good, good[:len(good)/2], egg.Prefix, egg.Prefix + "e30", egg.Prefix + "bnVsbA", "", "seal-egg-v2.x", good + "==", " " + good + "\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, err := egg.Parse(s)
		if err != nil {
			if !errors.Is(err, egg.ErrMalformed) {
				t.Fatalf("Parse error %v does not wrap ErrMalformed", err)
			}
			return
		}
		again, err := egg.Parse(o.String())
		if err != nil || *again != *o {
			t.Fatalf("re-encoded egg does not round-trip: %v", err)
		}
		// Opening a fuzzed envelope must fail cleanly or succeed, never panic.
		_, _ = egg.Open(keyring(1), "td.example", o, now)
	})
}

// The workload incarnation is sealed with the claims; an Egg minted before the field existed
// opens with none (the sealed JSON is extensible).
func TestIncarnationSealed(t *testing.T) {
	for _, inc := range []string{"inc-0123456789abcdef0123", ""} {
		c := egg.Claims{ID: "egg-1", Workload: "w", Peer: "any", NotAfter: now.Add(time.Hour), Incarnation: inc}
		o, err := egg.Parse(mint(t, keyring(1), "td.example", c))
		if err != nil {
			t.Fatal(err)
		}
		got, err := egg.Open(keyring(1), "td.example", o, now)
		if err != nil || got.Incarnation != inc {
			t.Errorf("incarnation %q: got %+v, %v", inc, got, err)
		}
	}
}
