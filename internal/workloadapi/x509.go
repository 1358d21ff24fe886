package workloadapi

import (
	"bytes"
	"encoding/pem"
	"fmt"
	"strings"

	"github.com/spiffe/go-spiffe/v2/proto/spiffe/workload"
	"google.golang.org/grpc"
)

// X509Identity is what the X.509 calls serve: one SVID and the bundles, all DER.
type X509Identity struct {
	// SPIFFEID is the SVID's SPIFFE ID, spiffe://TD/PATH.
	SPIFFEID string
	// Chain is the leaf then its intermediates; Key the leaf's PKCS#8 private key.
	Chain [][]byte
	Key   []byte
	// Bundle is the pod's own trust domain's X.509 authorities.
	Bundle [][]byte
	// Federated are other trust domains' authorities, by trust domain name.
	Federated map[string][][]byte
}

// FromPEM builds an identity from the PEM files seal-init writes: the chain (tls.crt), the
// PKCS#8 key (tls.key), the own bundle (ca.crt) and federated bundles by trust domain name.
func FromPEM(spiffeID string, chain, key, bundle []byte, federated map[string][]byte) (*X509Identity, error) {
	if !strings.HasPrefix(spiffeID, "spiffe://") {
		return nil, fmt.Errorf("workloadapi: %q is not a SPIFFE ID", spiffeID)
	}
	id := &X509Identity{SPIFFEID: spiffeID, Federated: map[string][][]byte{}}
	var err error
	if id.Chain, err = blocks(chain, "CERTIFICATE", "certificate chain"); err != nil {
		return nil, err
	}
	keys, err := blocks(key, "PRIVATE KEY", "private key")
	if err != nil {
		return nil, err
	}
	if len(keys) != 1 {
		return nil, fmt.Errorf("workloadapi: private key: want one PKCS#8 block, got %d", len(keys))
	}
	id.Key = keys[0]
	if id.Bundle, err = blocks(bundle, "CERTIFICATE", "bundle"); err != nil {
		return nil, err
	}
	for td, pemBytes := range federated {
		if id.Federated[td], err = blocks(pemBytes, "CERTIFICATE", "bundle of "+td); err != nil {
			return nil, err
		}
	}
	return id, nil
}

func blocks(b []byte, typ, what string) ([][]byte, error) {
	var out [][]byte
	for {
		var p *pem.Block
		p, b = pem.Decode(b)
		if p == nil {
			break
		}
		if p.Type != typ {
			return nil, fmt.Errorf("workloadapi: %s: unexpected PEM block %q", what, p.Type)
		}
		out = append(out, p.Bytes)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("workloadapi: %s: no %s PEM block", what, typ)
	}
	return out, nil
}

// trustDomain is the trust domain of a SPIFFE ID.
func trustDomain(id string) string {
	rest := strings.TrimPrefix(id, "spiffe://")
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		return rest[:i]
	}
	return rest
}

func (id *X509Identity) svidResponse() *workload.X509SVIDResponse {
	fed := make(map[string][]byte, len(id.Federated))
	for td, certs := range id.Federated {
		fed["spiffe://"+td] = bytes.Join(certs, nil)
	}
	return &workload.X509SVIDResponse{
		Svids: []*workload.X509SVID{{
			SpiffeId:    id.SPIFFEID,
			X509Svid:    bytes.Join(id.Chain, nil),
			X509SvidKey: id.Key,
			Bundle:      bytes.Join(id.Bundle, nil),
		}},
		FederatedBundles: fed,
	}
}

func (id *X509Identity) bundlesResponse() *workload.X509BundlesResponse {
	all := map[string][]byte{"spiffe://" + trustDomain(id.SPIFFEID): bytes.Join(id.Bundle, nil)}
	for td, certs := range id.Federated {
		all["spiffe://"+td] = bytes.Join(certs, nil)
	}
	return &workload.X509BundlesResponse{Bundles: all}
}

// FetchX509SVID streams the pod's SVID, and a new message on every Update, until the client
// goes away or the server stops.
func (s *Server) FetchX509SVID(_ *workload.X509SVIDRequest, stream grpc.ServerStreamingServer[workload.X509SVIDResponse]) error {
	return s.stream(stream.Context(), func(id *X509Identity) error { return stream.Send(id.svidResponse()) })
}

// FetchX509Bundles streams the X.509 bundles of the pod's trust domain and the federated ones.
func (s *Server) FetchX509Bundles(_ *workload.X509BundlesRequest, stream grpc.ServerStreamingServer[workload.X509BundlesResponse]) error {
	return s.stream(stream.Context(), func(id *X509Identity) error { return stream.Send(id.bundlesResponse()) })
}
