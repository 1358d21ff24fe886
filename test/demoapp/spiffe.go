package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
)

// identity is where the app's certificates come from: Seal's files (pkg/sealtls) or the SPIFFE
// Workload API through go-spiffe (--workload-api), as any SPIFFE-ready Go app would use it.
type identity struct {
	id     spiffeid.ID
	serial func() string // of the app's current certificate
	server func() *tls.Config
	client func(anyServer bool) *tls.Config // anyServer: do not check the server
	close  func()
}

// workloadAPIIdentity connects to the Workload API at $SPIFFE_ENDPOINT_SOCKET (which seal-webhook
// sets) and authorizes peers of the app's own workload, as sealtls.AuthorizeSameWorkload does.
func workloadAPIIdentity(ctx context.Context) (*identity, error) {
	src, err := workloadapi.NewX509Source(ctx)
	if err != nil {
		return nil, fmt.Errorf("demoapp: the SPIFFE Workload API: %w", err)
	}
	svid, err := src.GetX509SVID()
	if err != nil {
		src.Close()
		return nil, err
	}
	own := svid.ID
	prefix, _, _ := strings.Cut(strings.TrimPrefix(own.Path(), "/workload/"), "/")
	authorize := tlsconfig.AdaptMatcher(func(peer spiffeid.ID) error {
		if peer.TrustDomain() != own.TrustDomain() || !strings.HasPrefix(peer.Path(), "/workload/"+prefix+"/") {
			return fmt.Errorf("sealtls: peer %s: not of workload %s", peer, prefix)
		}
		return nil
	})
	return &identity{
		id: own,
		serial: func() string {
			s, err := src.GetX509SVID()
			if err != nil {
				return ""
			}
			return s.Certificates[0].SerialNumber.String()
		},
		server: func() *tls.Config { return tlsconfig.MTLSServerConfig(src, src, authorize) },
		client: func(anyServer bool) *tls.Config {
			if anyServer {
				// go-spiffe sets InsecureSkipVerify and checks in VerifyPeerCertificate: drop
				// that, so the server itself must refuse this client.
				cfg := tlsconfig.MTLSClientConfig(src, src, tlsconfig.AuthorizeAny())
				cfg.VerifyPeerCertificate = nil
				return cfg
			}
			return tlsconfig.MTLSClientConfig(src, src, authorize)
		},
		close: func() { src.Close() },
	}, nil
}
