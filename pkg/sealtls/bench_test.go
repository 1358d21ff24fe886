package sealtls_test

import (
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/seal-dev/seal/pkg/sealtls"
)

// BenchmarkHandshake measures one full mTLS handshake (TLS 1.3, ECDSA P-256, both chains
// verified and authorized by SPIFFE ID) between ServerConfig and ClientConfig over net.Pipe.
func BenchmarkHandshake(b *testing.B) {
	w := newWorld(b)
	payCA := certPEM(w.payCA.cert)
	for _, bc := range []struct {
		name     string
		interval time.Duration
	}{{"reload-check-5s", sealtls.DefaultReloadInterval}, {"reload-check-every-handshake", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			loadB := func(p podFiles) *sealtls.Source {
				src, err := sealtls.Load(w.dir(b, p), sealtls.WithReloadInterval(bc.interval))
				if err != nil {
					b.Fatal(err)
				}
				return src
			}
			srv := sealtls.ServerConfig(loadB(w.pod(b, w.payCA, wid(prodTD, "payments", "backend"), payCA, nil)), sealtls.AuthorizePeers("frontend"))
			cli := sealtls.ClientConfig(loadB(w.pod(b, w.payCA, wid(prodTD, "payments", "frontend"), payCA, nil)), sealtls.AuthorizePeers("backend"))
			srv.SessionTicketsDisabled = true
			b.ReportAllocs()
			for b.Loop() {
				c, s := net.Pipe()
				errc := make(chan error, 1)
				go func() { errc <- tls.Server(s, srv).Handshake() }()
				if err := tls.Client(c, cli).Handshake(); err != nil {
					b.Fatal(err)
				}
				if err := <-errc; err != nil {
					b.Fatal(err)
				}
				_ = c.Close()
				_ = s.Close()
			}
		})
	}
}
