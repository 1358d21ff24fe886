package enroll

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seal-dev/seal/internal/podfiles"
)

// identityFiles returns a complete file set valid from now-1m to now+1h.
func identityFiles(t testing.TB, now time.Time) map[string][]byte {
	t.Helper()
	key, chain, ca := issued(t, now)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{FileCert: []byte(chain), FileKey: pemBlock("PRIVATE KEY", der), FileCA: []byte(ca),
		FileKeys: []byte(keysComment)}
}

func TestCheck(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	otherKey := func(t *testing.T) []byte {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pemBlock("PRIVATE KEY", der)
	}
	for _, tc := range []struct {
		name string
		edit func(t *testing.T, files map[string][]byte) // nil files: write nothing
		at   time.Time
		want []string // in the message; none: the check passes
	}{
		{name: "complete set", at: now},
		{name: "complete set near expiry", at: now.Add(time.Hour - time.Second)},
		{name: "missing key", edit: func(_ *testing.T, f map[string][]byte) { delete(f, FileKey) }, at: now,
			want: []string{"tls.key is missing"}},
		{name: "missing certificate", edit: func(_ *testing.T, f map[string][]byte) { delete(f, FileCert) }, at: now,
			want: []string{"tls.crt is missing"}},
		{name: "missing CA bundle", edit: func(_ *testing.T, f map[string][]byte) { delete(f, FileCA) }, at: now,
			want: []string{"ca.crt is missing"}},
		{name: "CA bundle without a certificate", edit: func(_ *testing.T, f map[string][]byte) { f[FileCA] = []byte("\n") }, at: now,
			want: []string{"ca.crt holds no CA certificate"}},
		{name: "mismatched pair", edit: func(t *testing.T, f map[string][]byte) { f[FileKey] = otherKey(t) }, at: now,
			want: []string{"tls.key", "is not the key of the certificate in tls.crt"}},
		{name: "key that is not PEM", edit: func(_ *testing.T, f map[string][]byte) { f[FileKey] = []byte("junk") }, at: now,
			want: []string{"are not a certificate and its key"}},
		{name: "expired certificate", at: now.Add(time.Hour),
			want: []string{"expired at 2026-11-26T13:00:00Z", "now 2026-11-26T13:00:00Z", "seal-init --watch"}},
		{name: "certificate not yet valid", at: now.Add(-2 * time.Minute),
			want: []string{"not valid before 2026-11-26T11:59:00Z", "clock"}},
		{name: "empty dir", edit: func(_ *testing.T, f map[string][]byte) { clear(f) }, at: now,
			want: []string{"no identity files in", "yet"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			files := identityFiles(t, now)
			if tc.edit != nil {
				tc.edit(t, files)
			}
			if len(files) > 0 {
				if err := (&podfiles.Writer{Dir: dir}).Write(files); err != nil {
					t.Fatal(err)
				}
			}
			leaf, err := Check(dir, tc.at)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Check = %v, want the set accepted", err)
				}
				if got, want := leaf.URIs[0].String(), "spiffe://test.seal.dev/workload/payments/peer/api"; got != want {
					t.Errorf("leaf SPIFFE ID = %s, want %s", got, want)
				}
				return
			}
			var f *Failure
			if !errors.As(err, &f) {
				t.Fatalf("Check = %v (%T), want a *Failure", err, err)
			}
			msg := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q lacks %q", msg, w)
				}
			}
			if !strings.Contains(msg, dir) {
				t.Errorf("message %q does not name the directory %s", msg, dir)
			}
			if strings.Contains(msg, "PRIVATE KEY") || strings.Contains(msg, "\n") {
				t.Errorf("message %q is not one line without key material", msg)
			}
		})
	}
}

func TestMainCheck(t *testing.T) {
	now := time.Now()
	good := t.TempDir()
	if err := (&podfiles.Writer{Dir: good}).Write(identityFiles(t, now)); err != nil {
		t.Fatal(err)
	}
	empty := t.TempDir()
	for _, tc := range []struct {
		name     string
		args     []string
		env      map[string]string
		wantCode int
		want     string
	}{
		{name: "dir argument", args: []string{good}, wantCode: ExitOK, want: "holds spiffe://test.seal.dev/workload/payments/peer/api, valid until"},
		{name: "--out", args: []string{"--out", good}, wantCode: ExitOK, want: good + " holds"},
		{name: "SEAL_OUT", env: map[string]string{"SEAL_OUT": good}, wantCode: ExitOK, want: good + " holds"},
		{name: "argument beats SEAL_OUT", args: []string{empty}, env: map[string]string{"SEAL_OUT": good}, wantCode: ExitFailure,
			want: "seal-init: check: no identity files in " + empty},
		{name: "default dir", wantCode: ExitFailure, want: DefaultOut},
		{name: "two dirs", args: []string{good, empty}, wantCode: ExitUsage, want: `unexpected argument`},
		{name: "--out and another dir", args: []string{"--out", good, empty}, wantCode: ExitUsage, want: "not both"},
		{name: "unknown flag", args: []string{"--watch"}, wantCode: ExitUsage, want: "usage: seal-init check"},
		{name: "help", args: []string{"--help"}, wantCode: ExitOK, want: "exit 0 when DIR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "default dir" {
				if _, err := Check(DefaultOut, now); err == nil {
					t.Skipf("%s holds an identity on this machine", DefaultOut)
				}
			}
			var stderr bytes.Buffer
			code := Main(t.Context(), append([]string{"check"}, tc.args...), envOf(tc.env), &stderr)
			if code != tc.wantCode {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, tc.wantCode, stderr.String())
			}
			if got := stderr.String(); !strings.Contains(got, tc.want) || strings.Count(got, "\n") > 2 {
				t.Errorf("stderr %q, want one line containing %q", got, tc.want)
			}
		})
	}
}

// BenchmarkCheck is the cost of one exec probe's work (without the process start).
func BenchmarkCheck(b *testing.B) {
	now := time.Now()
	dir := filepath.Join(b.TempDir(), "seal")
	if err := (&podfiles.Writer{Dir: dir}).Write(identityFiles(b, now)); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Check(dir, now); err != nil {
			b.Fatal(err)
		}
	}
}
