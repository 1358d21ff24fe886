package podtoken_test

import (
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/seal-dev/seal/internal/podtoken"
	"github.com/seal-dev/seal/internal/podtoken/podtokentest"
	"github.com/seal-dev/seal/internal/store"
)

// FuzzVerify feeds arbitrary tokens to Verify: it must never panic, accept only a token the
// cluster's key signed, and never put the token into its error.
func FuzzVerify(f *testing.F) {
	iss := podtokentest.New(f, "https://kubernetes.default.svc", jose.ES256)
	v, _ := podtoken.NewVerifier([]podtoken.Cluster{{Name: "prod", Issuer: iss.URL, JWKS: iss.JWKS(f)}})
	bs := []store.Binding{{Cluster: "prod", Namespace: "payments", ServiceAccount: "*"}}
	good := iss.Token(f, t0, "payments", "api", "p")
	for _, s := range []string{good, good[:len(good)/2], "", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", strings.Repeat(".", 10),
		iss.Token(f, t0, "other", "api", "p"), "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJodHRwczovL2t1YmVybmV0ZXMuZGVmYXVsdC5zdmMifQ.AAAA"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		p, err := v.Verify(tok, bs, t0)
		if err == nil {
			if tok != good && p.Namespace != "payments" {
				t.Fatalf("accepted %+v", p)
			}
			return
		}
		if len(tok) >= 40 && strings.Contains(err.Error(), tok) {
			t.Fatalf("error echoes the token: %v", err)
		}
	})
}
