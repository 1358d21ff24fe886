package rot

import (
	"net/http"
	"time"

	"github.com/seal-dev/seal/internal/ca"
	"github.com/seal-dev/seal/internal/rotapi"
)

// A rotated Workload CA goes through two steps, as SPIRE's prepared and active CAs do:
//
//  1. Published: it is in every ca.crt and trust bundle the ROT hands out (redemptions,
//     renewals, external certificates), but the current CA still signs the leaves.
//  2. Active: from its ActiveFrom on it signs every new leaf.
//
// The delay between the two is the workload's certificate TTL (Config.CAActivationDelay
// overrides it): seal-init renews at two thirds of that, so by then every running pod has
// renewed once and holds the new CA in its ca.crt, and a peer's certificate signed by it
// verifies everywhere. Without the delay a pod that renewed after the rotation was refused by
// one that had not yet (docs/reliability.md, Rotation drill). The switch is evaluated at each
// signing from the stored ActiveFrom, so every replica agrees without a background task.
// sealctl rotate workload-ca --now (a compromised key) skips step 1.

// pendingCA is a published Workload CA that signs from from on.
type pendingCA struct {
	ca   *ca.CA
	from time.Time
	pem  string // its PEM and the chain above it, appended to the leaves it signs
}

// signing returns the Workload CA that signs at now and the PEM appended to its leaves: the
// last published CA whose activation time has come, else the current one.
func (wv *workloadView) signing(now time.Time) (*ca.CA, string) {
	c, pem := wv.current, wv.currentPEM
	for _, p := range wv.pending {
		if !now.Before(p.from) && now.Before(p.ca.Cert.NotAfter) {
			c, pem = p.ca, p.pem
		}
	}
	return c, pem
}

// hasPending reports whether a published Workload CA has yet to start signing at now.
func (wv *workloadView) hasPending(now time.Time) bool {
	for _, p := range wv.pending {
		if now.Before(p.from) {
			return true
		}
	}
	return false
}

// activeFrom is the stored activation time of c (zero when it signs or signed already).
func (wv *workloadView) activeFrom(c *ca.CA) time.Time {
	for _, p := range wv.pending {
		if p.ca == c {
			return p.from
		}
	}
	return time.Time{}
}

// activationDelay is how long a new Workload CA of wv is only published before it signs.
func (s *Server) activationDelay(wv *workloadView) time.Duration {
	if s.cfg.CAActivationDelay > 0 {
		return s.cfg.CAActivationDelay
	}
	return wv.certTTL
}

// addChains appends the chain above each of wv's signing CAs (an upstream's) to its PEM.
func (v *view) addChains(wv *workloadView) {
	wv.currentPEM += v.chainAbove(wv.current)
	for i := range wv.pending {
		p := &wv.pending[i]
		p.pem = string(p.ca.CertPEM()) + v.chainAbove(p.ca)
	}
}

// immediate reports whether a rotation request asks the new CA to sign at once (?now=true:
// sealctl rotate ... --now, after a compromise).
func immediate(r *http.Request) bool {
	return r.URL.Query().Get("now") == "true"
}

// workloadCAInfo describes c, a Workload CA of name, at now.
func (v *view) workloadCAInfo(name string, c *ca.CA, now time.Time) rotapi.CA {
	wv := v.workloads[name]
	cur, _ := wv.signing(now)
	out := caInfo(rotapi.CAKindWorkload, name, c, c == cur, v.roots)
	if from := wv.activeFrom(c); now.Before(from) {
		out.SignsFrom = &from
	}
	return out
}

// newestCAInfo describes the Workload CA of name made last (the one a rotation just added).
func (v *view) newestCAInfo(name string, now time.Time) rotapi.CA {
	wv := v.workloads[name]
	return v.workloadCAInfo(name, wv.cas[len(wv.cas)-1], now)
}
