package custody_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seal-dev/seal/internal/ca"
	"github.com/seal-dev/seal/internal/custody"
)

func kek(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, custody.KEKSize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func fileKeys(t testing.TB, k []byte) *custody.File {
	t.Helper()
	f, err := custody.NewFile(k, nil)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestFileSealsUnderKEK(t *testing.T) {
	k := kek(t)
	f := fileKeys(t, k)
	root, err := ca.NewRoot("td.example", 0, ca.Options{Custody: f})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := f.Marshal(root)
	if err != nil {
		t.Fatal(err)
	}
	if got := custody.ScanClear([]byte(stored)); len(got) != 0 || custody.IsPlain(stored) {
		t.Fatalf("stored CA key %q is in clear: %v", stored[:20], got)
	}
	got, err := fileKeys(t, k).Open(string(root.CertPEM()), stored)
	if err != nil {
		t.Fatalf("Open with the same KEK: %v", err)
	}
	if got.Fingerprint() != root.Fingerprint() {
		t.Errorf("opened CA %s, want %s", got.Fingerprint(), root.Fingerprint())
	}
	tests := []struct {
		name    string
		keys    *custody.File
		cert    []byte
		wantErr error
	}{
		{"no KEK", fileKeys(t, nil), root.CertPEM(), custody.ErrKEKRequired},
		{"another KEK", fileKeys(t, kek(t)), root.CertPEM(), custody.ErrKEKRequired},
	}
	other, err := ca.NewRoot("td.example", 0, ca.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tests = append(tests, struct {
		name    string
		keys    *custody.File
		cert    []byte
		wantErr error
	}{"beside another certificate", f, other.CertPEM(), custody.ErrOpen})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.keys.Open(string(tc.cert), stored)
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("Open = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestFileSealBindsName(t *testing.T) {
	f := fileKeys(t, kek(t))
	s, err := f.Seal(custody.DataKeyName("a", 0), []byte("AGE-SECRET-KEY-1XYZ"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(s, "AGE-SECRET") {
		t.Fatalf("sealed value %q holds the secret", s)
	}
	if p, err := f.Unseal(custody.DataKeyName("a", 0), s); err != nil || string(p) != "AGE-SECRET-KEY-1XYZ" {
		t.Fatalf("Unseal = %q, %v", p, err)
	}
	if _, err := f.Unseal(custody.DataKeyName("b", 0), s); !errors.Is(err, custody.ErrOpen) {
		t.Errorf("Unseal under another name = %v, want ErrOpen", err)
	}
	tampered := s[:len(s)-2] + "AA"
	if _, err := f.Unseal(custody.DataKeyName("a", 0), tampered); !errors.Is(err, custody.ErrOpen) {
		t.Errorf("Unseal of a tampered value = %v, want ErrOpen", err)
	}
}

func TestReadKEKFile(t *testing.T) {
	dir := t.TempDir()
	k := kek(t)
	write := func(name string, b []byte, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name    string
		path    string
		wantErr string
	}{
		{"raw", write("raw", k, 0o600), ""},
		{"hex", write("hex", []byte(custody.HexKEK(k)+"\n"), 0o600), ""},
		{"readable by others", write("open", k, 0o644), "chmod 600"},
		{"short", write("short", k[:16], 0o600), "32 random bytes"},
		{"missing", filepath.Join(dir, "none"), "no such file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := custody.ReadKEKFile(tc.path)
			if tc.wantErr == "" {
				if err != nil || !bytes.Equal(got, k) {
					t.Fatalf("ReadKEKFile = %x, %v; want the key", got, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ReadKEKFile error = %v, want one saying %q", err, tc.wantErr)
			}
		})
	}
}

func TestHandleRoundTrip(t *testing.T) {
	h := custody.Handle{ID: []byte{0x1a, 0x00, 0xff}, Label: "seal-ca-1a00ff"}
	got, err := custody.ParseHandle(h.String())
	if err != nil || !bytes.Equal(got.ID, h.ID) || got.Label != h.Label {
		t.Fatalf("ParseHandle(%q) = %+v, %v; want %+v", h.String(), got, err, h)
	}
	for _, bad := range []string{"pkcs11:", "pkcs11:id=", "pkcs11:id=%zz", "pkcs11:id=%01;pin-value=1234", "file:id=%01", "pkcs11:object=x"} {
		if _, err := custody.ParseHandle(bad); err == nil {
			t.Errorf("ParseHandle(%q) accepted it", bad)
		}
	}
}

func FuzzParseHandle(f *testing.F) {
	f.Add("pkcs11:object=seal-ca-01020304;id=%01%02%03%04")
	f.Add("pkcs11:id=%01;id=%02")
	f.Add("pkcs11:object=%zz;id=%01")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := custody.ParseHandle(s)
		if err != nil {
			return
		}
		again, err := custody.ParseHandle(h.String())
		if err != nil || !bytes.Equal(again.ID, h.ID) || again.Label != h.Label {
			t.Fatalf("%q parsed to %+v, whose String %q parses to %+v, %v", s, h, h.String(), again, err)
		}
	})
}

func FuzzParseKEK(f *testing.F) {
	f.Add([]byte("0123456789abcdef0123456789abcdef"))
	f.Add([]byte("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"))
	f.Add([]byte("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := custody.ParseKEK(b)
		if err == nil && len(k) != custody.KEKSize {
			t.Fatalf("ParseKEK gave %d bytes", len(k))
		}
	})
}

func FuzzUnseal(f *testing.F) {
	k := make([]byte, custody.KEKSize)
	keys, _ := custody.NewFile(k, nil)
	s, _ := keys.Seal("n", []byte("secret"))
	f.Add(s)
	f.Add("seal-kek:v1:" + custody.KEKID(k) + ":AAAA")
	f.Add("seal-p11:v1:00:AAAA")
	f.Fuzz(func(t *testing.T, stored string) {
		p, err := keys.Unseal("n", stored)
		if err == nil && !custody.IsPlain(stored) && string(p) != "secret" {
			t.Fatalf("Unseal(%q) opened to %q", stored, p)
		}
	})
}
