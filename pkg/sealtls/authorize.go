package sealtls

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// ErrUnauthorized is wrapped by every refusal of an [Authorizer] in this package.
var ErrUnauthorized = errors.New("sealtls: peer not authorized")

// An Authorizer decides whether a peer may connect, once its certificate chain has been
// verified against the authorities of the trust domain in its SPIFFE ID. local is this
// program's own SPIFFE ID (from tls.crt), peer is the other side's. A nil error accepts.
type Authorizer func(local, peer spiffeid.ID) error

// AuthorizeSameWorkload accepts any peer of this program's own workload in its own trust
// domain. It is the usual choice between the pods of one workload.
func AuthorizeSameWorkload() Authorizer {
	return func(local, peer spiffeid.ID) error {
		l, p, err := parseBoth(local, peer)
		if err != nil {
			return err
		}
		if !l.sameWorkload(p) {
			return fmt.Errorf("%w: %s is not in workload %q of %s", ErrUnauthorized, peer, l.Workload, l.TrustDomain)
		}
		return nil
	}
}

// AuthorizePeers accepts peers of this program's own workload and trust domain whose peer
// name is one of peers, e.g. AuthorizePeers("frontend") on a database.
func AuthorizePeers(peers ...string) Authorizer {
	return func(local, peer spiffeid.ID) error {
		l, p, err := parseBoth(local, peer)
		if err != nil {
			return err
		}
		if !l.sameWorkload(p) || !slices.Contains(peers, p.Peer) {
			return fmt.Errorf("%w: %s is not peer %s of workload %q of %s", ErrUnauthorized, peer, strings.Join(peers, "|"), l.Workload, l.TrustDomain)
		}
		return nil
	}
}

// AuthorizeWorkload accepts peers of workload in trust domain td (typically a federated
// one), limited to the named peers if any are given. The trust domain's authorities must be
// in ca.crt (own trust domain) or bundles/<td>.pem for a peer to get this far.
func AuthorizeWorkload(td, workload string, peers ...string) Authorizer {
	want, err := spiffeid.TrustDomainFromString(td)
	if err == nil && want.Name() != td {
		err = fmt.Errorf("want a trust domain name, not an ID")
	}
	if err != nil {
		return refuseAll(fmt.Errorf("sealtls: AuthorizeWorkload: trust domain %q: %w", td, err))
	}
	return func(_, peer spiffeid.ID) error {
		p, err := ParseWorkloadID(peer)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrUnauthorized, err)
		}
		if p.TrustDomain != want || p.Workload != workload || (len(peers) > 0 && !slices.Contains(peers, p.Peer)) {
			return fmt.Errorf("%w: %s is not workload %q of %s", ErrUnauthorized, peer, workload, td)
		}
		return nil
	}
}

// AuthorizeID accepts exactly the given SPIFFE IDs (e.g.
// "spiffe://partner.example.net/workload/billing/peer/api"). An invalid ID makes the
// Authorizer refuse every peer with an error naming it.
func AuthorizeID(ids ...string) Authorizer {
	allowed := make(map[spiffeid.ID]bool, len(ids))
	for _, s := range ids {
		id, err := spiffeid.FromString(s)
		if err != nil {
			return refuseAll(fmt.Errorf("sealtls: AuthorizeID: %q: %w", s, err))
		}
		allowed[id] = true
	}
	return func(_, peer spiffeid.ID) error {
		if !allowed[peer] {
			return fmt.Errorf("%w: %s is not one of the allowed IDs", ErrUnauthorized, peer)
		}
		return nil
	}
}

// AuthorizeAny accepts every peer whose chain verifies against a trust domain this program
// trusts (its own Workload CA bundle or any federated bundle), whatever its workload and peer.
// It is weak: it admits every workload of every federated trust domain. Prefer the others.
func AuthorizeAny() Authorizer {
	return func(_, _ spiffeid.ID) error { return nil }
}

// AnyOf accepts a peer that any of authorizers accepts, e.g. the own workload and one
// federated workload: AnyOf(AuthorizeSameWorkload(), AuthorizeWorkload("partner.example.net", "billing")).
func AnyOf(authorizers ...Authorizer) Authorizer {
	return func(local, peer spiffeid.ID) error {
		errs := make([]error, 0, len(authorizers))
		for _, a := range authorizers {
			err := a(local, peer)
			if err == nil {
				return nil
			}
			errs = append(errs, err)
		}
		if len(errs) == 0 {
			return fmt.Errorf("%w: %s (no authorizer given)", ErrUnauthorized, peer)
		}
		return errors.Join(errs...)
	}
}

func refuseAll(err error) Authorizer {
	err = fmt.Errorf("%w: %w", ErrUnauthorized, err)
	return func(_, _ spiffeid.ID) error { return err }
}

func parseBoth(local, peer spiffeid.ID) (WorkloadID, WorkloadID, error) {
	l, err := ParseWorkloadID(local)
	if err != nil {
		return WorkloadID{}, WorkloadID{}, fmt.Errorf("%w: own identity: %w", ErrUnauthorized, err)
	}
	p, err := ParseWorkloadID(peer)
	if err != nil {
		return WorkloadID{}, WorkloadID{}, fmt.Errorf("%w: %w", ErrUnauthorized, err)
	}
	return l, p, nil
}
