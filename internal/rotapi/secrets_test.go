package rotapi_test

import (
	"strings"
	"testing"

	"github.com/seal-dev/seal/internal/rotapi"
)

const armored = "-----BEGIN AGE ENCRYPTED FILE-----\\nYWdl\\n-----END AGE ENCRYPTED FILE-----\\n"

func TestParseSecretsDocument(t *testing.T) {
	for _, tc := range []struct {
		name, doc, err string
	}{
		{"empty set", `{"secrets":[],"algorithm":"age"}`, ""},
		{"one secret", `{"secrets":[{"name":"db-password","value":"` + armored + `","created":"2026-01-01T00:00:00Z","updated":"2026-01-01T00:00:00Z","notBefore":"2026-01-01T00:00:00Z","expiresAfter":"2027-01-01T00:00:00Z"}],"algorithm":"age"}`, ""},
		{"other algorithm", `{"secrets":[],"algorithm":"aes"}`, `algorithm "aes"`},
		{"unknown field", `{"secrets":[],"algorithm":"age","extra":1}`, "unknown field"},
		{"path in name", `{"secrets":[{"name":"../etc/passwd","value":"` + armored + `","created":"2026-01-01T00:00:00Z","updated":"2026-01-01T00:00:00Z","notBefore":"2026-01-01T00:00:00Z"}],"algorithm":"age"}`, "secret name"},
		{"duplicate", `{"secrets":[{"name":"a","value":"` + armored + `","created":"2026-01-01T00:00:00Z","updated":"2026-01-01T00:00:00Z","notBefore":"2026-01-01T00:00:00Z"},{"name":"a","value":"` + armored + `","created":"2026-01-01T00:00:00Z","updated":"2026-01-01T00:00:00Z","notBefore":"2026-01-01T00:00:00Z"}],"algorithm":"age"}`, "twice"},
		{"plain value", `{"secrets":[{"name":"a","value":"hunter2","created":"2026-01-01T00:00:00Z","updated":"2026-01-01T00:00:00Z","notBefore":"2026-01-01T00:00:00Z"}],"algorithm":"age"}`, "not an armored age file"},
		{"reversed window", `{"secrets":[{"name":"a","value":"` + armored + `","created":"2026-01-01T00:00:00Z","updated":"2026-01-01T00:00:00Z","notBefore":"2026-02-01T00:00:00Z","expiresAfter":"2026-01-15T00:00:00Z"}],"algorithm":"age"}`, "before notBefore"},
		{"trailing data", `{"secrets":[],"algorithm":"age"} {}`, "after the JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := rotapi.ParseSecretsDocument([]byte(tc.doc))
			if tc.err == "" {
				if err != nil || d.Secrets == nil {
					t.Fatalf("got %v, %v; want a document", d, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("got %v, want an error containing %q", err, tc.err)
			}
		})
	}
}

func FuzzParseSecretsDocument(f *testing.F) {
	f.Add([]byte(`{"secrets":[],"algorithm":"age"}`))
	f.Add([]byte(`{"secrets":[{"name":"db-password","value":"` + armored + `","created":"2026-01-01T00:00:00Z","updated":"2026-01-01T00:00:00Z","notBefore":"2026-01-01T00:00:00Z","expiresAfter":"2027-01-01T00:00:00Z"}],"algorithm":"age"}`))
	f.Add([]byte(`{"secrets":[{"name":"..","value":"x"}],"algorithm":"age"}`))
	f.Add([]byte(`{"secrets":null,"algorithm":"age"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := rotapi.ParseSecretsDocument(b)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, e := range d.Secrets {
			if rotapi.CheckSecretName(e.Name) != nil || seen[e.Name] || strings.ContainsAny(e.Name, "/\\\x00") {
				t.Fatalf("accepted an unsafe or duplicate name %q", e.Name)
			}
			seen[e.Name] = true
			if e.ExpiresAfter != nil && e.ExpiresAfter.Before(e.NotBefore) {
				t.Fatalf("accepted a reversed window for %q", e.Name)
			}
		}
	})
}
