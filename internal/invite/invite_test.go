package invite_test

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/seal-dev/seal/internal/ca"
	"github.com/seal-dev/seal/internal/invite"
)

var exp = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func sample(t testing.TB) *invite.Invite {
	t.Helper()
	root, err := ca.NewRoot("alpha.example", 0, ca.Options{})
	if err != nil {
		t.Fatal(err)
	}
	i, err := invite.New("alpha.example", "https://rot.alpha.example:8443", invite.Digest([]*x509.Certificate{root.Cert}), exp, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return i
}

func TestRoundTrip(t *testing.T) {
	i := sample(t)
	got, err := invite.Parse("  " + i.Encode() + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if got.TrustDomain != i.TrustDomain || got.URL != i.URL || got.BundleDigest != i.BundleDigest || got.ID != i.ID ||
		!bytes.Equal(got.Secret, i.Secret) || !got.NotAfter.Equal(i.NotAfter) {
		t.Errorf("Parse(Encode()) = %+v, want %+v", got, i)
	}
	if got.BundleURL() != "https://rot.alpha.example:8443/v1/bundle" {
		t.Errorf("BundleURL() = %q", got.BundleURL())
	}
	if err := got.CheckExpiry(exp.Add(-time.Second)); err != nil {
		t.Errorf("CheckExpiry before the expiry: %v", err)
	}
	if err := got.CheckExpiry(exp); !errors.Is(err, invite.ErrExpired) {
		t.Errorf("CheckExpiry at the expiry = %v, want ErrExpired", err)
	}
}

// reencode replaces the payload of text by edit(payload JSON), keeping the old check value.
func reencode(t *testing.T, text string, edit func(string) string) string {
	t.Helper()
	parts := strings.Split(strings.TrimPrefix(text, invite.Prefix), ".")
	p, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		t.Fatal(err)
	}
	return invite.Prefix + base64.RawURLEncoding.EncodeToString([]byte(edit(string(p)))) + "." + parts[1]
}

func TestParseRefuses(t *testing.T) {
	i := sample(t)
	text := i.Encode()
	for name, tc := range map[string]struct {
		text string
		want error
		msg  string
	}{
		"empty":            {"", invite.ErrMalformed, "does not start"},
		"other format":     {"seal-invite-v2." + strings.TrimPrefix(text, invite.Prefix), invite.ErrMalformed, "does not start"},
		"no check":         {strings.Split(text, ".")[0] + "." + strings.Split(text, ".")[1], invite.ErrMalformed, "no check"},
		"check not b64":    {text + "!", invite.ErrMalformed, "check is not base64url"},
		"too long":         {text + strings.Repeat("A", invite.MaxLen), invite.ErrMalformed, "over"},
		"other URL":        {reencode(t, text, func(p string) string { return strings.Replace(p, "rot.alpha.example", "evil.example", 1) }), invite.ErrTampered, "check value"},
		"longer expiry":    {reencode(t, text, func(p string) string { return strings.Replace(p, "2030", "2099", 1) }), invite.ErrTampered, "check value"},
		"other check":      {text[:len(text)-4] + "AAAA", invite.ErrTampered, "check value"},
		"http URL":         {reencode(t, text, func(p string) string { return strings.Replace(p, "https://", "http://", 1) }), invite.ErrMalformed, "not https"},
		"unknown field":    {reencode(t, text, func(p string) string { return strings.Replace(p, `{`, `{"x":1,`, 1) }), invite.ErrMalformed, "not an invite"},
		"bad trust domain": {reencode(t, text, func(p string) string { return strings.Replace(p, "alpha.example", "Alpha!", 1) }), invite.ErrMalformed, "trust domain"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := invite.Parse(tc.text)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("Parse() = %v, want %v naming %q", err, tc.want, tc.msg)
			}
		})
	}
}

func TestDigestIgnoresOrder(t *testing.T) {
	a, _ := ca.NewRoot("alpha.example", 0, ca.Options{})
	b, _ := ca.NewRoot("alpha.example", 0, ca.Options{})
	ab := invite.Digest([]*x509.Certificate{a.Cert, b.Cert})
	if ba := invite.Digest([]*x509.Certificate{b.Cert, a.Cert}); ab != ba {
		t.Errorf("Digest depends on order: %s, %s", ab, ba)
	}
	if one := invite.Digest([]*x509.Certificate{a.Cert}); one == ab {
		t.Error("Digest of one CA equals that of two")
	}
}

// FuzzParse: no input panics, and whatever parses encodes back to an invite that parses the
// same.
func FuzzParse(f *testing.F) {
	i := sample(f)
	text := i.Encode()
	f.Add(text)
	f.Add("")
	f.Add(invite.Prefix)
	f.Add(invite.Prefix + "e30.AAAA")
	f.Add(text[:len(text)/2])
	f.Add(strings.Replace(text, ".", "..", 1))
	f.Fuzz(func(t *testing.T, s string) {
		got, err := invite.Parse(s)
		if err != nil {
			return
		}
		again, err := invite.Parse(got.Encode())
		if err != nil || again.ID != got.ID || !bytes.Equal(again.Secret, got.Secret) || again.URL != got.URL {
			t.Fatalf("Parse(%q) = %+v, but its Encode() parses to %+v, %v", s, got, again, err)
		}
	})
}
