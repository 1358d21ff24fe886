package sealctl

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/seal-dev/seal/internal/rot/rottest"
	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/testing/testenv"
)

func TestSecretCommands(t *testing.T) {
	r := rottest.Start(t)
	r.CreateWorkload(t, rotapi.Workload{Name: "payments", Peers: []string{"any", "db"}})
	env := envFor(r)
	ok(t, env, "", "secret", "put", "payments", "db-password", "--from-literal", "hunter2")
	ok(t, env, "", "secret", "put", "payments", "db-admin", "--from-literal", "root", "--peer", "db")
	if got := ok(t, env, "", "secret", "get", "payments", "db-admin").stdout; !strings.Contains(got, "Peers:") || !strings.Contains(got, "db") {
		t.Errorf("secret get db-admin = %q, want its peers", got)
	}
	ok(t, env, "", "secret", "delete", "payments", "db-admin")
	ok(t, env, "tok-from-stdin", "secret", "put", "payments", "api-token", "--from-file", "-", "--expires-after", "24h")
	ok(t, env, "", "secret", "put", "payments", "later", "--from-literal", "soon", "--not-before", time.Now().Add(time.Hour).UTC().Format(time.RFC3339))

	res := ok(t, env, "", "secret", "list", "payments")
	for _, want := range []string{"db-password", "api-token", "later", "pending", "valid"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("secret list: %q lacks %q", res.stdout, want)
		}
	}
	res = ok(t, env, "", "secret", "get", "payments", "api-token", "-o", "json")
	var info rotapi.SecretInfo
	if err := json.Unmarshal([]byte(res.stdout), &info); err != nil {
		t.Fatal(err)
	}
	if info.ExpiresAfter == nil || info.ExpiresAfter.Sub(time.Now()) < 23*time.Hour {
		t.Errorf("api-token expiresAfter = %v, want about 24h from now", info.ExpiresAfter)
	}
	for _, out := range []string{res.stdout, res.stderr, ok(t, env, "", "secret", "list", "payments", "-o", "json").stdout} {
		if strings.Contains(out, "hunter2") || strings.Contains(out, "tok-from-stdin") {
			t.Errorf("a value shows in %q", out)
		}
	}

	edge, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "edge-key.txt")
	if err := os.WriteFile(keyFile, []byte(edge.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	doc := ok(t, env, "", "secret", "export", "payments", "--recipient", edge.Recipient().String()).stdout
	if got := ok(t, nil, doc, "secret", "decrypt", "--identity", keyFile, "--name", "db-password").stdout; got != "hunter2" {
		t.Errorf("decrypt --name db-password = %q, want hunter2", got)
	}
	var all map[string]string
	if err := json.Unmarshal([]byte(ok(t, nil, doc, "secret", "decrypt", "--identity", keyFile).stdout), &all); err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all["api-token"] != "tok-from-stdin" {
		t.Errorf("decrypt = %v, want db-password and api-token (later is pending)", all)
	}
	dir := filepath.Join(t.TempDir(), "out")
	ok(t, nil, doc, "secret", "decrypt", "--identity", keyFile, "--out", dir, "--all")
	if b, err := os.ReadFile(filepath.Join(dir, "later")); err != nil || string(b) != "soon" {
		t.Errorf("decrypt --all --out: later = %q, %v", b, err)
	}

	ok(t, env, "", "secret", "delete", "payments", "db-password")
	refused(t, env, `has no secret "db-password"`, "secret", "get", "payments", "db-password")
	if res := run(t, env, "", "secret", "put", "payments", "x", "--from-literal", "v", "--expires-after", "tomorrow"); res.code != ExitUsage || !strings.Contains(res.stderr, "RFC 3339") {
		t.Errorf("bad --expires-after: code %d stderr %q, want a usage error naming the formats", res.code, res.stderr)
	}
}

// TestSecretExportDecryptsWithAgeCLI is the edge flow with the real age CLI: the edge makes
// its key with age-keygen, the admin exports to its recipient, the edge decrypts a value.
func TestSecretExportDecryptsWithAgeCLI(t *testing.T) {
	ageBin := testenv.Command(t, "age", "make test-tools")
	keygen := testenv.Command(t, "age-keygen", "make test-tools")
	r := rottest.Start(t)
	r.CreateWorkload(t, rotapi.Workload{Name: "payments"})
	env := envFor(r)
	ok(t, env, "", "secret", "put", "payments", "db-password", "--from-literal", "correct horse battery staple")

	keyFile := filepath.Join(t.TempDir(), "edge-key.txt")
	if out, err := exec.Command(keygen, "-o", keyFile).CombinedOutput(); err != nil {
		t.Fatalf("age-keygen: %v: %s", err, out)
	}
	rcpt, err := exec.Command(keygen, "-y", keyFile).Output()
	if err != nil {
		t.Fatal(err)
	}
	raw := ok(t, env, "", "secret", "export", "payments", "--recipient", strings.TrimSpace(string(rcpt))).stdout
	doc, err := rotapi.ParseSecretsDocument([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Secrets) != 1 || doc.Algorithm != "age" {
		t.Fatalf("export = %+v", doc)
	}
	cmd := exec.Command(ageBin, "-d", "-i", keyFile)
	cmd.Stdin = strings.NewReader(doc.Secrets[0].Value)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("age -d: %v", err)
	}
	if string(out) != "correct horse battery staple" {
		t.Errorf("age -d = %q, want the value put", out)
	}
}

func TestParseWhen(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, in string
		want     time.Time
		err      bool
	}{
		{"rfc3339", "2026-12-01T00:00:00Z", time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), false},
		{"rfc3339 offset", "2026-12-01T01:00:00+01:00", time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), false},
		{"duration", "24h", now.Add(24 * time.Hour), false},
		{"plus duration", "+90m", now.Add(90 * time.Minute), false},
		{"negative duration", "-5m", now.Add(-5 * time.Minute), false},
		{"date only", "2026-12-01", time.Time{}, true},
		{"words", "tomorrow", time.Time{}, true},
		{"empty", " ", time.Time{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseWhen(tc.in, now)
			if (err != nil) != tc.err || !got.Equal(tc.want) {
				t.Errorf("ParseWhen(%q) = %v, %v; want %v (error %v)", tc.in, got, err, tc.want, tc.err)
			}
		})
	}
}

func FuzzParseWhen(f *testing.F) {
	for _, s := range []string{"2026-12-01T00:00:00Z", "24h", "+90m", "-5m", "", "9999999999h", "2026-13-01T00:00:00Z"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseWhen(s, now)
		if err != nil {
			return
		}
		if got.Location() != time.UTC {
			t.Errorf("ParseWhen(%q) = %v, not UTC", s, got)
		}
	})
}
