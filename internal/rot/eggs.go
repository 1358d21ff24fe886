package rot

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/seal-dev/seal/internal/egg"
	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/store"
)

func (s *Server) mintEgg(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var req rotapi.MintRequest
	if code, err := decodeBody(w, r, &req); err != nil {
		writeError(w, code, err.Error())
		return
	}
	ttl := defaultEggTTL
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil || d <= 0 || d > 10*365*24*time.Hour {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("rot: ttl %q must be a positive Go duration of at most 10 years", req.TTL))
			return
		}
		ttl = d
	}
	for _, h := range req.Hostnames {
		if err := checkHostname(h); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.knowWorkloadLocked(r.Context(), name)
	// The workload is looked up under the lock: a delete that ran while this request waited
	// has revoked the workload's Eggs and must not be followed by a new, live one.
	wv, peer, ok := s.v.Load().workloadPeer(w, name, req.Peer)
	if !ok {
		return
	}
	inc, err := s.incarnationLocked(r.Context(), wv)
	if err != nil {
		writeError(w, storeStatus(err), err.Error())
		return
	}
	id, err := s.newID("egg")
	if err != nil {
		writeError(w, storeStatus(err), err.Error())
		return
	}
	now := s.cfg.Now().UTC()
	claims := egg.Claims{ID: id, Workload: name, Peer: peer, NotAfter: now.Add(ttl).Truncate(time.Second), Hostnames: req.Hostnames, Incarnation: inc}
	v := s.v.Load()
	o, err := egg.Seal(v.keyring, s.cfg.ExternalURL, v.rootPEM, s.td.Name(), claims, s.cfg.Rand)
	if err != nil {
		writeError(w, storeStatus(err), err.Error())
		return
	}
	rec := &store.Egg{ID: id, Workload: name, Peer: peer, NotAfter: claims.NotAfter, Hostnames: req.Hostnames, Created: now}
	if err := s.cfg.Store.PutEgg(r.Context(), rec); err != nil {
		writeError(w, storeStatus(err), "rot: saving egg: "+err.Error())
		return
	}
	s.st.Eggs[id] = rec
	nv := s.v.Load().clone()
	nv.eggs[id] = true
	s.v.Store(nv)
	s.audit(r, "egg-mint", "egg", id, "workload", name, "peer", peer, "notAfter", claims.NotAfter, "hostnames", req.Hostnames)
	writeJSON(w, http.StatusCreated, rotapi.MintResponse{EggInfo: apiEgg(rec), Egg: o.String()})
}

// incarnationLocked returns wv's incarnation id, giving the workload one (saved before any Egg
// carries it) when it has none yet: workloads created before the field existed, or by kubectl.
func (s *Server) incarnationLocked(ctx context.Context, wv *workloadView) (string, error) {
	if wv.rec.Incarnation != "" {
		return wv.rec.Incarnation, nil
	}
	inc, err := s.newID("inc")
	if err != nil {
		return "", err
	}
	rec := *wv.rec
	rec.Incarnation = inc
	if err := s.putWorkloadLocked(ctx, &rec); err != nil {
		return "", err
	}
	return inc, nil
}

func (s *Server) listEggs(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	s.mu.Lock()
	out := []rotapi.EggInfo{}
	for _, e := range s.st.Eggs {
		if e.Workload == name {
			out = append(out, apiEgg(e))
		}
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b rotapi.EggInfo) int { return cmp.Or(a.NotAfter.Compare(b.NotAfter), cmp.Compare(a.ID, b.ID)) })
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) revokeEgg(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.st.Eggs[id]
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("rot: egg %q was not minted by this ROT", id))
		return
	}
	if err := s.revokeLocked(r, id); err != nil {
		writeError(w, storeStatus(err), err.Error())
		return
	}
	s.audit(r, "egg-revoke", "egg", id, "workload", e.Workload)
	writeJSON(w, http.StatusOK, apiEgg(s.st.Eggs[id]))
}

func (s *Server) revokeLocked(r *http.Request, id string) error {
	rec := *s.st.Eggs[id]
	rec.Revoked = true
	if err := s.cfg.Store.PutEgg(r.Context(), &rec); err != nil {
		return fmt.Errorf("rot: saving revocation: %w", err)
	}
	s.st.Eggs[id] = &rec
	nv := s.v.Load().clone()
	nv.revoked[id] = true
	s.v.Store(nv)
	return nil
}

// workloadPeer finds workload name and checks that peer ("" means the default peer) is one of
// its peers; otherwise it answers 404 or 400 itself and reports false.
func (v *view) workloadPeer(w http.ResponseWriter, name, peer string) (*workloadView, string, bool) {
	wv, ok := v.workloads[name]
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("rot: workload %q does not exist", name))
		return nil, "", false
	}
	peer = cmp.Or(peer, defaultPeer)
	if !wv.peers[peer] {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("rot: peer %q is not a peer of workload %q (peers: %v)", peer, name, slices.Sorted(maps.Keys(wv.peers))))
		return nil, "", false
	}
	return wv, peer, true
}
