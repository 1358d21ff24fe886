package rot

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/seal-dev/seal/internal/ca"
	"github.com/seal-dev/seal/internal/invite"
	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/store"
)

// federationRoutes registers first contact: invites and joins (admin), and the inviting
// side of a join (public: the invite is the credential).
func (s *Server) federationRoutes(mux *http.ServeMux, admin func(http.HandlerFunc) http.HandlerFunc) {
	mux.Handle(rotapi.PathInvites, methods{http.MethodGet: admin(s.listInvites), http.MethodPost: admin(s.createInvite)})
	mux.Handle(rotapi.PathJoinAdmin, methods{http.MethodPost: admin(s.joinAdmin)})
	mux.Handle(rotapi.PathJoin, methods{http.MethodPost: s.joinInvited})
}

// bundleEndpoint is this ROT's bundle endpoint URL.
func (s *Server) bundleEndpoint() string {
	return strings.TrimSuffix(s.cfg.ExternalURL, "/") + rotapi.PathBundle
}

// ownBundle is this trust domain's bundle document and its pin.
func (s *Server) ownBundle() (doc []byte, digest string, err error) {
	b, err := s.GetBundleForTrustDomain(s.td)
	if err != nil {
		return nil, "", err
	}
	doc, err = b.Marshal()
	if err != nil {
		return nil, "", fmt.Errorf("rot: encoding the bundle: %w", err)
	}
	return doc, invite.Digest(b.X509Authorities()), nil
}

func inviteInfo(i *store.Invite) rotapi.InviteInfo {
	return rotapi.InviteInfo{ID: i.ID, NotAfter: i.NotAfter, Created: i.Created, Used: i.Used, UsedBy: i.UsedBy}
}

func (s *Server) listInvites(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	out := make([]rotapi.InviteInfo, 0, len(s.st.Invites))
	for _, i := range s.st.Invites {
		out = append(out, inviteInfo(i))
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b rotapi.InviteInfo) int { return cmp.Compare(a.ID, b.ID) })
	writeJSON(w, http.StatusOK, out)
}

// createInvite issues a single-use invite: this ROT's URL, the pin of its bundle, an id and a
// secret, valid for the requested TTL. Only the secret's hash is kept.
func (s *Server) createInvite(w http.ResponseWriter, r *http.Request) {
	var in rotapi.InviteRequest
	if code, err := decodeBody(w, r, &in); err != nil {
		writeError(w, code, err.Error())
		return
	}
	ttl := rotapi.DefaultInviteTTL
	if in.TTL != "" {
		d, err := time.ParseDuration(in.TTL)
		if err != nil || d < time.Minute || d > rotapi.MaxInviteTTL {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("rot: invite ttl %q must be a duration from 1m to %s", in.TTL, rotapi.MaxInviteTTL))
			return
		}
		ttl = d
	}
	_, digest, err := s.ownBundle()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	now := s.cfg.Now().UTC()
	inv, err := invite.New(s.td.Name(), s.cfg.ExternalURL, digest, now.Add(ttl), s.cfg.Rand)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	rec := &store.Invite{ID: inv.ID, SecretSHA256: inv.SecretDigest(), URL: inv.URL, BundleDigest: digest, NotAfter: inv.NotAfter, Created: now}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.cfg.Store.PutInvite(r.Context(), rec); err != nil {
		writeError(w, storeStatus(err), "rot: saving invite: "+err.Error())
		return
	}
	if s.st.Invites == nil {
		s.st.Invites = map[string]*store.Invite{}
	}
	s.st.Invites[rec.ID] = rec
	s.audit(r, "federation-invite", "invite", rec.ID, "notAfter", rec.NotAfter)
	writeJSON(w, http.StatusOK, rotapi.InviteResponse{InviteInfo: inviteInfo(rec), Invite: inv.Encode()})
}

// newInviteFix ends every refusal of an invite the inviting ROT will not take again.
const newInviteFix = "; fix: ask the inviting ROT's admin for a new invite (sealctl federation invite)"

// joinRefusal is a join refused with a status and one of invite's named reasons.
type joinRefusal struct {
	code int
	err  error
}

// redeemInvite checks the presented invite against the kept record and marks it used by td.
// s.mu is held.
func (s *Server) redeemInviteLocked(ctx context.Context, inv *invite.Invite, td string) *joinRefusal {
	rec, ok := s.st.Invites[inv.ID]
	if !ok {
		return &joinRefusal{http.StatusNotFound, fmt.Errorf("%w: no invite %s%s", invite.ErrUnknown, inv.ID, newInviteFix)}
	}
	sum := sha256.Sum256(inv.Secret)
	want, _ := hex.DecodeString(rec.SecretSHA256)
	if subtle.ConstantTimeCompare(sum[:], want) != 1 || inv.URL != rec.URL || inv.BundleDigest != rec.BundleDigest || !inv.NotAfter.Equal(rec.NotAfter) || inv.TrustDomain != s.td.Name() {
		return &joinRefusal{http.StatusForbidden, fmt.Errorf("%w: it differs from invite %s as issued%s", invite.ErrTampered, inv.ID, newInviteFix)}
	}
	if rec.Used != nil {
		return &joinRefusal{http.StatusConflict, fmt.Errorf("%w: by %s at %s%s", invite.ErrUsed, rec.UsedBy, rec.Used.UTC().Format(time.RFC3339), newInviteFix)}
	}
	now := s.cfg.Now().UTC()
	if !now.Before(rec.NotAfter) {
		return &joinRefusal{http.StatusGone, fmt.Errorf("%w at %s%s", invite.ErrExpired, rec.NotAfter.UTC().Format(time.RFC3339), newInviteFix)}
	}
	used := *rec
	used.Used, used.UsedBy = &now, td
	if err := s.cfg.Store.PutInvite(ctx, &used); err != nil {
		return &joinRefusal{storeStatus(err), fmt.Errorf("rot: saving invite: %w", err)}
	}
	s.st.Invites[used.ID] = &used
	return nil
}

// joinInvited is the inviting ROT's side of a join: the invite (checked against the record,
// used once) lets the caller's trust domain in with the bundle and endpoint it sends; the answer
// is this trust domain's bundle.
func (s *Server) joinInvited(w http.ResponseWriter, r *http.Request) {
	if d := s.drained(); d != nil {
		writeError(w, http.StatusConflict, drainedMessage(d))
		return
	}
	var in rotapi.JoinRequest
	if code, err := decodeBody(w, r, &in); err != nil {
		writeError(w, code, err.Error())
		return
	}
	inv, err := invite.Parse(in.Invite)
	if err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, invite.ErrTampered) {
			code = http.StatusForbidden
		}
		writeError(w, code, err.Error())
		return
	}
	rec, sb, err := s.joinerBundle(&in)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if s.federatedWith(rec.TrustDomain) {
		// Checked again under the lock below; here so a refused join does not use the invite.
		writeError(w, http.StatusConflict, alreadyFederated(rec.TrustDomain))
		return
	}
	if s.knownInvite(inv.ID) == nil {
		// Another replica may have issued it just now: reload the shared state, as for an Egg
		// without a record (one reload shared by concurrent callers, at most one per gap).
		s.reloadForMissingEgg(r.Context())
	}
	doc, _, err := s.ownBundle()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	s.drainGate.RLock() // a drain waits for this join (drain.go)
	defer s.drainGate.RUnlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.Authority.Drained != nil {
		writeError(w, http.StatusConflict, drainedMessage(s.st.Authority.Drained))
		return
	}
	if _, ok := s.st.Bundles[rec.TrustDomain]; ok {
		writeError(w, http.StatusConflict, alreadyFederated(rec.TrustDomain))
		return
	}
	if ref := s.redeemInviteLocked(r.Context(), inv, rec.TrustDomain); ref != nil {
		s.log.Warn("federation join refused", "audit", true, "invite", inv.ID, "trustDomain", in.TrustDomain, "remote", r.RemoteAddr, "err", ref.err)
		writeError(w, ref.code, ref.err.Error())
		return
	}
	if err := s.storeBundleLocked(r.Context(), rec); err != nil {
		writeError(w, storeStatus(err), err.Error())
		return
	}
	s.log.Info("federation join", "audit", true, "invite", inv.ID, "trustDomain", rec.TrustDomain, "endpoint", rec.BundleEndpointURL, "authorities", len(sb.X509Authorities()), "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, rotapi.JoinResponse{TrustDomain: s.td.Name(), Bundle: string(doc), BundleEndpointURL: s.bundleEndpoint()})
}

// federatedWith reports whether td already has a bundle here.
func (s *Server) federatedWith(td string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.st.Bundles[td]
	return ok
}

// alreadyFederated refuses a join that would replace a federated trust domain's bundle: an
// invite lets a new trust domain in, it never speaks for one this ROT already trusts.
func alreadyFederated(td string) string {
	return fmt.Sprintf("rot: %s is already federated with this ROT; a join never replaces a trust domain's bundle; fix: if %s's keys really changed, its admin exports the new bundle and this ROT's admin imports it (sealctl bundle import)", td, td)
}

func (s *Server) knownInvite(id string) *store.Invite {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.Invites[id]
}

// joinerBundle checks the joining trust domain's bundle and endpoint and returns its record
// (https_spiffe, endpoint SPIFFE ID spiffe://TD/seal/rot, as every Seal ROT serves).
func (s *Server) joinerBundle(in *rotapi.JoinRequest) (*store.Bundle, *spiffebundle.Bundle, error) {
	td, err := spiffeid.TrustDomainFromString(in.TrustDomain)
	if err != nil || td.Name() != in.TrustDomain {
		return nil, nil, fmt.Errorf("rot: trustDomain %q is not a trust domain name", in.TrustDomain)
	}
	if td == s.td {
		return nil, nil, fmt.Errorf("rot: %q is this ROT's own trust domain", in.TrustDomain)
	}
	rec := &store.Bundle{TrustDomain: td.Name(), BundleEndpointURL: in.BundleEndpointURL, EndpointProfile: "https_spiffe",
		EndpointSPIFFEID: "spiffe://" + td.Name() + "/seal/rot", Bundle: in.Bundle}
	if err := checkEndpoint(rec, td); err != nil {
		return nil, nil, err
	}
	sb, err := parseBundle(td, []byte(in.Bundle))
	if err != nil {
		return nil, nil, err
	}
	return rec, sb, nil
}

// parseBundle parses td's bundle document as an import does.
func parseBundle(td spiffeid.TrustDomain, doc []byte) (*spiffebundle.Bundle, error) {
	sb, err := spiffebundle.Parse(td, doc)
	if err != nil {
		return nil, fmt.Errorf("rot: bundle for %q is not a SPIFFE bundle document: %v", td.Name(), err)
	}
	if len(sb.X509Authorities()) == 0 {
		return nil, fmt.Errorf("rot: bundle for %q has no X.509 authorities", td.Name())
	}
	if err := ca.CheckTrustDomain(td, sb.X509Authorities()); err != nil {
		return nil, err
	}
	return sb, nil
}

// storeBundleLocked saves a federated trust domain's bundle and serves it, as an import does;
// it is refreshed from its endpoint from then on. s.mu is held.
func (s *Server) storeBundleLocked(ctx context.Context, rec *store.Bundle) error {
	now := s.cfg.Now().UTC()
	rec.LastRefreshed, rec.LastError = &now, ""
	if sb, err := spiffebundle.Parse(spiffeid.RequireTrustDomainFromString(rec.TrustDomain), []byte(rec.Bundle)); err == nil {
		if seq, ok := sb.SequenceNumber(); ok {
			rec.SequenceNumber = seq
		}
	}
	pem, err := bundlePEM(rec)
	if err != nil {
		return fmt.Errorf("rot: %w", err)
	}
	if err := s.cfg.Store.PutBundle(ctx, rec); err != nil {
		return fmt.Errorf("rot: saving bundle: %w", err)
	}
	s.st.Bundles[rec.TrustDomain] = rec
	delete(s.fetchFailures, rec.TrustDomain)
	s.nextFetch[rec.TrustDomain] = now.Add(refreshHint)
	nv := s.v.Load().clone()
	nv.federated[rec.TrustDomain] = pem
	s.v.Store(nv)
	return nil
}
