package sealtls

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// ErrNotWorkloadID reports a SPIFFE ID that is valid but not of the Seal workload form
// spiffe://<trust-domain>/workload/<workload>/peer/<peer>.
var ErrNotWorkloadID = errors.New("sealtls: not a Seal workload ID (want spiffe://<trust-domain>/workload/<workload>/peer/<peer>)")

// WorkloadID is the identity Seal gives a pod: a peer (role) of a workload in a trust domain.
type WorkloadID struct {
	TrustDomain spiffeid.TrustDomain
	Workload    string
	Peer        string
}

// ParseWorkloadID splits a SPIFFE ID of the form
// spiffe://<trust-domain>/workload/<workload>/peer/<peer>. Other valid SPIFFE IDs (such as the
// ROT's spiffe://<trust-domain>/seal/rot) give an error wrapping [ErrNotWorkloadID].
func ParseWorkloadID(id spiffeid.ID) (WorkloadID, error) {
	if id.IsZero() {
		return WorkloadID{}, fmt.Errorf("%w: empty ID", ErrNotWorkloadID)
	}
	seg := strings.Split(strings.TrimPrefix(id.Path(), "/"), "/")
	if len(seg) != 4 || seg[0] != "workload" || seg[2] != "peer" || seg[1] == "" || seg[3] == "" {
		return WorkloadID{}, fmt.Errorf("%w: %q", ErrNotWorkloadID, id.String())
	}
	return WorkloadID{TrustDomain: id.TrustDomain(), Workload: seg[1], Peer: seg[3]}, nil
}

// ParseWorkloadIDString parses s as a SPIFFE ID and then as a [WorkloadID].
func ParseWorkloadIDString(s string) (WorkloadID, error) {
	id, err := spiffeid.FromString(s)
	if err != nil {
		return WorkloadID{}, fmt.Errorf("sealtls: SPIFFE ID %q: %w", s, err)
	}
	return ParseWorkloadID(id)
}

// ID is the SPIFFE ID of w.
func (w WorkloadID) ID() (spiffeid.ID, error) {
	return spiffeid.FromSegments(w.TrustDomain, "workload", w.Workload, "peer", w.Peer)
}

// String is the SPIFFE ID of w as text.
func (w WorkloadID) String() string {
	return w.TrustDomain.IDString() + "/workload/" + w.Workload + "/peer/" + w.Peer
}

// sameWorkload reports whether a and b are peers of one workload in one trust domain.
func (w WorkloadID) sameWorkload(o WorkloadID) bool {
	return w.TrustDomain == o.TrustDomain && w.Workload == o.Workload
}

// certID returns the SPIFFE ID of an X.509-SVID: its one URI SAN, which must be a spiffe:// ID.
func certID(cert *x509.Certificate) (spiffeid.ID, error) {
	switch len(cert.URIs) {
	case 0:
		return spiffeid.ID{}, errors.New("sealtls: certificate has no URI SAN (no SPIFFE ID)")
	case 1:
	default:
		return spiffeid.ID{}, fmt.Errorf("sealtls: certificate has %d URI SANs, a SPIFFE ID needs exactly one", len(cert.URIs))
	}
	id, err := spiffeid.FromURI(cert.URIs[0])
	if err != nil {
		return spiffeid.ID{}, fmt.Errorf("sealtls: certificate URI SAN %q: %w", cert.URIs[0].String(), err)
	}
	return id, nil
}
