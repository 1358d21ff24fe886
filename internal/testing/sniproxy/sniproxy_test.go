package sniproxy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"testing"
	"time"
)

// helloBytes captures the raw ClientHello records Go's TLS client sends for serverName.
func helloBytes(t testing.TB, serverName string) []byte {
	t.Helper()
	c, s := net.Pipe()
	defer s.Close()
	go func() {
		_ = tls.Client(c, &tls.Config{ServerName: serverName, InsecureSkipVerify: true}).Handshake()
		_ = c.Close()
	}()
	_ = s.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, raw, err := ReadClientHello(s)
	if err != nil && serverName != "" {
		t.Fatalf("ReadClientHello: %v", err)
	}
	return raw
}

// splitRecords re-frames the handshake payload of one record into records of at most n bytes.
func splitRecords(raw []byte, n int) []byte {
	payload := raw[5:]
	var out []byte
	for len(payload) > 0 {
		k := min(n, len(payload))
		out = append(out, 0x16, raw[1], raw[2], byte(k>>8), byte(k))
		out = append(out, payload[:k]...)
		payload = payload[k:]
	}
	return out
}

func TestReadClientHello(t *testing.T) {
	full := helloBytes(t, "payments.apps.example.com")
	tests := []struct {
		name     string
		in       []byte
		wantHost string
		wantErr  error // nil: success; errAny: any error
	}{
		{"go client", full, "payments.apps.example.com", nil},
		{"split into 100-byte records", splitRecords(full, 100), "payments.apps.example.com", nil},
		{"split into 1-byte records", splitRecords(full, 1), "payments.apps.example.com", nil},
		{"no SNI (IP address)", helloBytes(t, ""), "", ErrNoSNI},
		{"not TLS", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), "", errAny},
		{"truncated", full[:len(full)-10], "", errAny},
		{"empty", nil, "", errAny},
		{"zero-length record", []byte{0x16, 3, 1, 0, 0}, "", errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host, _, err := ReadClientHello(bytesReader(tt.in))
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("ReadClientHello: %v, want host %q", err, tt.wantHost)
			case tt.wantErr == errAny && err == nil:
				t.Fatalf("ReadClientHello = %q, want an error", host)
			case tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
				t.Fatalf("ReadClientHello error = %v, want %v", err, tt.wantErr)
			}
			if host != tt.wantHost {
				t.Errorf("host = %q, want %q", host, tt.wantHost)
			}
		})
	}
}

var errAny = errors.New("any error")

type sliceReader struct{ b []byte }

func bytesReader(b []byte) *sliceReader { return &sliceReader{b} }

func (r *sliceReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

func FuzzReadClientHello(f *testing.F) {
	full := helloBytes(f, "payments.apps.example.com")
	f.Add(full)
	f.Add(splitRecords(full, 7))
	f.Add(helloBytes(f, ""))
	f.Add([]byte{0x16, 3, 1, 0, 4, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		host, raw, err := ReadClientHello(bytesReader(in))
		if len(raw) > len(in) {
			t.Fatalf("raw has %d bytes, input only %d", len(raw), len(in))
		}
		if err == nil && host == "" {
			t.Fatal("no error and no host")
		}
	})
}

// tlsBackend serves TLS for names on loopback and writes reply to every client.
func tlsBackend(t *testing.T, cert tls.Certificate, reply string) string {
	t.Helper()
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			_, _ = io.WriteString(c, reply)
			_ = c.Close()
		}
	}()
	t.Cleanup(func() { _ = l.Close(); <-done })
	return l.Addr().String()
}

func selfSigned(t *testing.T, names ...string) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

func TestProxyRoutesBySNI(t *testing.T) {
	cert, pool := selfSigned(t, "a.example", "b.example", "c.example")
	p, err := Listen("127.0.0.1:0", map[string]string{
		"a.example": tlsBackend(t, cert, "backend A"),
		"B.example": tlsBackend(t, cert, "backend B"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })

	dial := func(host string) (string, error) {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", p.Addr(), &tls.Config{ServerName: host, RootCAs: pool})
		if err != nil {
			return "", err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		b, err := io.ReadAll(c)
		return string(b), err
	}
	tests := []struct{ host, want string }{
		{"a.example", "backend A"},
		{"b.example", "backend B"}, // routes match case-insensitively
		{"c.example", ""},          // no route: the proxy closes the connection
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			got, err := dial(tt.host)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("got %q through an unrouted host, want a refused handshake", got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}

	p.SetRoute("c.example", tlsBackend(t, cert, "backend C"))
	if got, err := dial("c.example"); err != nil || got != "backend C" {
		t.Fatalf("after SetRoute: got %q, %v; want backend C", got, err)
	}
}
