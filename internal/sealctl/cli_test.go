package sealctl

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// result is what a user sees of one sealctl invocation.
type result struct {
	code           int
	stdout, stderr string
}

// run executes sealctl in-process with args and stdin, with SEAL_ROT/SEAL_ADMIN taken from env
// (nil means both unset).
func run(t *testing.T, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := NewRootCommand(strings.NewReader(stdin), &out, &errb)
	cmd.SetArgs(args)
	// The getenv of the app is os.Getenv; tests set the variables explicitly.
	for _, k := range []string{EnvROT, EnvAdmin} {
		t.Setenv(k, env[k])
	}
	err := cmd.ExecuteContext(context.Background())
	if err != nil {
		errb.WriteString("sealctl: " + err.Error() + "\n")
	}
	return result{code: ExitCode(err), stdout: out.String(), stderr: errb.String()}
}

// writeAdminDir writes a self-signed CA and a client certificate under it into a new directory,
// shaped like the admin directory seal-rot writes (for tests that need no real ROT).
func writeAdminDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "admin"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	for name, b := range map[string]*pem.Block{
		"ca.crt":  {Type: "CERTIFICATE", Bytes: caDER},
		"tls.crt": {Type: "CERTIFICATE", Bytes: leafDER},
		"tls.key": {Type: "PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestUsageErrors(t *testing.T) {
	admin := writeAdminDir(t)
	cfg := map[string]string{EnvROT: "https://127.0.0.1:1", EnvAdmin: admin}
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		wantErr string
	}{
		{"no rot and no admin", nil, []string{"workload", "list"}, "pass --rot URL and --admin DIR, or set SEAL_ROT and SEAL_ADMIN"},
		{"no admin", map[string]string{EnvROT: "https://127.0.0.1:1"}, []string{"workload", "list"}, "no admin credentials given: pass --admin DIR or set SEAL_ADMIN"},
		{"no rot", map[string]string{EnvAdmin: admin}, []string{"egg", "list", "w"}, "no ROT URL given: pass --rot URL or set SEAL_ROT"},
		{"http rot", cfg, []string{"--rot", "http://127.0.0.1:1", "workload", "list"}, `--rot "http://127.0.0.1:1" is not an https:// URL`},
		{"missing workload arg", cfg, []string{"egg", "mint"}, "egg mint needs WORKLOAD"},
		{"extra arg", cfg, []string{"workload", "get", "a", "b"}, `workload get takes 1 argument(s), got 2: unexpected "b"`},
		{"empty name", cfg, []string{"workload", "get", ""}, "workload get: NAME must not be empty"},
		{"bad duration", cfg, []string{"egg", "mint", "w", "--ttl", "3 days"}, `invalid argument "3 days" for "--ttl" flag`},
		{"negative ttl", cfg, []string{"egg", "mint", "w", "--ttl", "-1h"}, "--ttl must be positive, not -1h0m0s"},
		{"bad cert ttl", cfg, []string{"workload", "create", "w", "--cert-ttl", "soon"}, `invalid argument "soon" for "--cert-ttl" flag`},
		{"bad federates-with", cfg, []string{"workload", "create", "w", "--federates-with", "Not A Domain"}, `--federates-with "Not A Domain" is not a trust domain`},
		{"unknown flag", cfg, []string{"workload", "list", "--frob"}, "unknown flag: --frob"},
		{"unknown subcommand", cfg, []string{"egg", "boil"}, `unknown command "boil" for "sealctl egg"`},
		{"unknown command", cfg, []string{"workloda", "list"}, `unknown command "workloda" for "sealctl" (did you mean workload? see sealctl --help)`},
		{"bad output", cfg, []string{"-o", "yaml", "workload", "list"}, `-o/--output must be table or json, not "yaml"`},
		{"bad timeout", cfg, []string{"--timeout", "0s", "workload", "list"}, "--timeout must be positive"},
		{"cert without out", cfg, []string{"cert", "w", "--peer", "p"}, "cert needs --out DIR"},
		{"import without td", cfg, []string{"bundle", "import", "b.json"}, "bundle import needs --trust-domain TD"},
		{"import bad td", cfg, []string{"bundle", "import", "--trust-domain", "UPPER.example", "b.json"}, `--trust-domain "UPPER.example"`},
		{"import bad profile", cfg, []string{"bundle", "import", "--trust-domain", "td.example", "--bundle-endpoint-url", "https://x/v1/bundle", "--endpoint-profile", "web", "b.json"}, `--endpoint-profile must be https_spiffe or https_web, not "web"`},
		{"import spiffe id of other td", cfg, []string{"bundle", "import", "--trust-domain", "td.example", "--bundle-endpoint-url", "https://x/v1/bundle", "--endpoint-profile", "https_spiffe", "--endpoint-spiffe-id", "spiffe://other.example/seal/rot", "b.json"}, `is not in trust domain "td.example"`},
		{"delete not confirmed", cfg, []string{"workload", "delete", "payments"}, `workload "payments" not deleted: not confirmed`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdin := ""
			if tt.name == "delete not confirmed" {
				stdin = "paymants\n"
			}
			r := run(t, tt.env, stdin, tt.args...)
			if r.code != ExitUsage {
				t.Errorf("exit code %d, want %d; stderr %q", r.code, ExitUsage, r.stderr)
			}
			if !strings.Contains(r.stderr, tt.wantErr) {
				t.Errorf("stderr %q, want it to contain %q", r.stderr, tt.wantErr)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q, want nothing", r.stdout)
			}
			if n := strings.Count(r.stderr, "sealctl: "); n != 1 {
				t.Errorf("stderr %q has %d error lines, want 1", r.stderr, n)
			}
		})
	}
}

func TestEnvAndFlagsConfigure(t *testing.T) {
	admin := writeAdminDir(t)
	// Port 1 on loopback refuses connections: the error must name the ROT and say it is unreachable.
	r := run(t, map[string]string{EnvROT: "https://127.0.0.1:1", EnvAdmin: admin}, "", "workload", "list")
	if r.code != ExitFailed || !strings.Contains(r.stderr, "cannot reach the ROT at https://127.0.0.1:1") {
		t.Errorf("got code %d stderr %q, want 1 and cannot reach the ROT", r.code, r.stderr)
	}
	// Flags win over the environment.
	r = run(t, map[string]string{EnvROT: "https://127.0.0.1:1", EnvAdmin: "/nonexistent"}, "", "--admin", admin, "--rot", "https://127.0.0.1:2", "workload", "list")
	if !strings.Contains(r.stderr, "https://127.0.0.1:2") {
		t.Errorf("stderr %q, want the --rot URL", r.stderr)
	}
	// An admin directory without credentials.
	r = run(t, map[string]string{EnvROT: "https://127.0.0.1:1", EnvAdmin: t.TempDir()}, "", "workload", "list")
	if r.code != ExitFailed || !strings.Contains(r.stderr, "reading the admin credentials") || !strings.Contains(r.stderr, "ca.crt") {
		t.Errorf("got code %d stderr %q, want 1 and a missing ca.crt", r.code, r.stderr)
	}
}

func TestServerNotTheROT(t *testing.T) {
	// A real TLS server whose certificate is not signed by the admin ca.crt.
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("[]"))
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	admin := writeAdminDir(t)
	r := run(t, map[string]string{EnvROT: srv.URL, EnvAdmin: admin}, "", "workload", "list")
	if r.code != ExitFailed || !strings.Contains(r.stderr, "is not the ROT of "+admin+"/ca.crt") {
		t.Errorf("got code %d stderr %q, want 1 and not the ROT", r.code, r.stderr)
	}
}

func TestTimeout(t *testing.T) {
	// A listener that accepts and never answers: the call must end at --timeout.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { <-done; c.Close() }()
		}
	}()
	admin := writeAdminDir(t)
	r := run(t, map[string]string{EnvROT: "https://" + ln.Addr().String(), EnvAdmin: admin}, "", "--timeout", "200ms", "workload", "list")
	if r.code != ExitFailed || !strings.Contains(r.stderr, "no answer from the ROT at https://"+ln.Addr().String()+" within 200ms") {
		t.Errorf("got code %d stderr %q, want 1 and no answer within 200ms", r.code, r.stderr)
	}
}

func TestHelpTeaches(t *testing.T) {
	// Every runnable command has a Long text and an Example.
	root := NewRootCommand(strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
	for _, c := range allCommands(root) {
		if c.Name() == "help" || c.HasParent() && c.Parent().Name() == "completion" || c.Name() == "completion" {
			continue
		}
		if c.Long == "" {
			t.Errorf("%s has no Long help", c.CommandPath())
		}
		if c.Runnable() && !c.HasSubCommands() && c.Example == "" {
			t.Errorf("%s has no Example", c.CommandPath())
		}
	}
	r := run(t, nil, "", "egg", "mint", "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "sealctl egg mint payments --peer api > egg.txt") {
		t.Errorf("egg mint --help: code %d stdout %q", r.code, r.stdout)
	}
	r = run(t, nil, "", "completion", "bash")
	if r.code != 0 || !strings.Contains(r.stdout, "bash completion") {
		t.Errorf("completion bash: code %d stdout starts %.80q", r.code, r.stdout)
	}
}

func TestWriteFiles(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tls.crt"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := writeFiles(dir, []file{{"tls.key", []byte("k"), 0o600}, {"tls.crt", []byte("new"), 0o644}})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]struct {
		data string
		mode os.FileMode
	}{"tls.key": {"k", 0o600}, "tls.crt": {"new", 0o644}} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(filepath.Join(dir, name))
		if string(got) != want.data || fi.Mode().Perm() != want.mode {
			t.Errorf("%s: got %q %v, want %q %v", name, got, fi.Mode().Perm(), want.data, want.mode)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("dir holds %d entries, want 2 (no temporary files left)", len(entries))
	}
	// A directory that cannot be written leaves nothing behind and names the file.
	if err := writeFiles(filepath.Join(dir, "missing"), []file{{"tls.key", []byte("k"), 0o600}}); err == nil || !strings.Contains(err.Error(), "tls.key") {
		t.Errorf("writeFiles to a missing dir: err %v, want one naming tls.key", err)
	}
}

func TestDuration(t *testing.T) {
	for _, tt := range []struct {
		in   time.Duration
		want string
	}{
		{12 * time.Hour, "12h"},
		{90 * time.Minute, "1h30m"},
		{10 * time.Minute, "10m"},
		{10 * time.Second, "10s"},
		{time.Hour + 30*time.Second, "1h0m30s"},
		{720 * time.Hour, "720h"},
	} {
		if got := duration(tt.in); got != tt.want {
			t.Errorf("duration(%v) = %q, want %q", tt.in, got, tt.want)
		}
		if d, err := time.ParseDuration(duration(tt.in)); err != nil || d != tt.in {
			t.Errorf("duration(%v) = %q parses back as %v (%v)", tt.in, duration(tt.in), d, err)
		}
	}
}
