package rot

import (
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/store"
)

// drainRoutes registers PathDrain. It is reachable while drained (resume must be).
func (s *Server) drainRoutes(mux *http.ServeMux) {
	mux.Handle(rotapi.PathDrain, methods{
		http.MethodGet:    s.requireAdmin(s.drainStatus),
		http.MethodPost:   s.requireAdmin(s.drain),
		http.MethodDelete: s.requireAdmin(s.resume),
	})
}

// drained is the current drain, or nil. It takes no lock: a change waiting for the ROT's
// lock must wait in its own handler, not here.
func (s *Server) drained() *store.Drain { return s.draining.Load() }

// refuseWhileDrained wraps an admin handler: while the ROT is drained, every method but GET
// and HEAD is answered 409 Conflict with what to do. Every replica sees a drain once it has
// reloaded the authority (seconds with --kube).
func (s *Server) refuseWhileDrained(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			h(w, r)
			return
		}
		// The gate keeps a drain from answering while a change that passed this check is still
		// on its way to the state: drain waits for changes in flight, and changes after it see it.
		s.drainGate.RLock()
		defer s.drainGate.RUnlock()
		if d := s.drained(); d != nil {
			s.log.Warn("admin change refused: drained", "audit", true, "method", r.Method, "path", r.URL.Path, "admin", auditSubject(r))
			writeError(w, http.StatusConflict, drainedMessage(d))
			return
		}
		h(w, r)
	}
}

func drainedMessage(d *store.Drain) string {
	why := ""
	if d.Reason != "" {
		why = fmt.Sprintf(" (%s)", d.Reason)
	}
	return fmt.Sprintf("rot: the ROT is drained since %s%s: admin changes are refused, redemption and the bundle endpoint go on; fix: sealctl rot resume once the move is done",
		d.Since.UTC().Format(time.RFC3339), why)
}

func drainStatusOf(d *store.Drain) rotapi.DrainStatus {
	if d == nil {
		return rotapi.DrainStatus{}
	}
	since := d.Since.UTC()
	return rotapi.DrainStatus{Drained: true, Since: &since, Reason: d.Reason, By: d.By}
}

func (s *Server) drainStatus(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, drainStatusOf(s.drained()))
}

// drain marks the ROT drained in its authority (kept there, so every replica and a restart,
// or the ROT this state migrates to, sees it). Draining a drained ROT keeps the first drain.
func (s *Server) drain(w http.ResponseWriter, r *http.Request) {
	var in rotapi.DrainRequest
	if code, err := decodeBody(w, r, &in); err != nil {
		writeError(w, code, err.Error())
		return
	}
	if len(in.Reason) > rotapi.MaxDrainReason || strings.IndexFunc(in.Reason, func(c rune) bool { return !unicode.IsPrint(c) }) >= 0 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("rot: drain reason must be at most %d printable characters", rotapi.MaxDrainReason))
		return
	}
	s.drainGate.Lock() // after every admin change in flight (see refuseWhileDrained)
	defer s.drainGate.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if d := s.st.Authority.Drained; d != nil {
		writeJSON(w, http.StatusOK, drainStatusOf(d))
		return
	}
	a := *s.st.Authority
	a.Drained = &store.Drain{Since: s.cfg.Now().UTC(), Reason: in.Reason, By: auditSubject(r)}
	if err := s.putAuthorityLocked(r.Context(), &a, "drained: admin changes refused", "reason", in.Reason, "admin", auditSubject(r)); err != nil {
		writeError(w, storeStatus(err), err.Error())
		return
	}
	writeJSON(w, http.StatusOK, drainStatusOf(a.Drained))
}

// resume ends a drain; resuming a ROT that is not drained is a no-op.
func (s *Server) resume(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.Authority.Drained == nil {
		writeJSON(w, http.StatusOK, rotapi.DrainStatus{})
		return
	}
	a := *s.st.Authority
	a.Drained = nil
	if err := s.putAuthorityLocked(r.Context(), &a, "resumed: admin changes accepted", "admin", auditSubject(r)); err != nil {
		writeError(w, storeStatus(err), err.Error())
		return
	}
	writeJSON(w, http.StatusOK, rotapi.DrainStatus{})
}
