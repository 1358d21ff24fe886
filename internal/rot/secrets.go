package rot

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/store"
)

// secretsRoutes registers the pods' GET /v1/secrets and the admin API of secrets.
func (s *Server) secretsRoutes(mux *http.ServeMux, admin func(http.HandlerFunc) http.HandlerFunc) {
	mux.Handle(rotapi.PathSecrets, methods{http.MethodGet: s.podSecrets})
	mux.Handle(rotapi.PathAdminSecrets, methods{http.MethodGet: admin(s.listSecrets)})
	mux.Handle(rotapi.PathAdminSecret, methods{http.MethodPut: admin(s.putSecret), http.MethodGet: admin(s.getSecret), http.MethodDelete: admin(s.deleteSecret)})
	mux.Handle(rotapi.PathSecretsExport, methods{http.MethodPost: admin(s.exportSecrets)})
}

// secretState is a secret's delivery state at now.
func secretState(sec *store.Secret, now time.Time) string {
	switch {
	case sec.NotBefore != nil && now.Before(*sec.NotBefore):
		return rotapi.SecretPending
	case sec.ExpiresAfter != nil && now.After(*sec.ExpiresAfter):
		return rotapi.SecretExpired
	}
	return rotapi.SecretValid
}

func secretInfo(sec *store.Secret, now time.Time) rotapi.SecretInfo {
	return rotapi.SecretInfo{Workload: sec.Workload, Name: sec.Name, Created: sec.Created, Updated: sec.Updated,
		NotBefore: sec.NotBefore, ExpiresAfter: sec.ExpiresAfter, DataKeyIndex: sec.DataKeyIndex, State: secretState(sec, now), Peers: sec.Peers}
}

// servedSecrets is the published (served) secrets of workload, sorted by name.
func (s *Server) servedSecrets(workload string) []*store.Secret {
	if m := s.sec.snap.Load(); m != nil {
		if ws := (*m)[workload]; ws != nil {
			return ws.list
		}
	}
	return nil
}

func (s *Server) listSecrets(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if _, ok := s.v.Load().workloads[name]; !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("rot: workload %q does not exist", name))
		return
	}
	now := s.cfg.Now()
	out := []rotapi.SecretInfo{}
	for _, sec := range s.servedSecrets(name) {
		out = append(out, secretInfo(sec, now))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) findSecret(w http.ResponseWriter, r *http.Request) (*store.Secret, bool) {
	name, sname := r.PathValue("name"), r.PathValue("secret")
	if _, ok := s.v.Load().workloads[name]; !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("rot: workload %q does not exist", name))
		return nil, false
	}
	for _, sec := range s.servedSecrets(name) {
		if sec.Name == sname {
			return sec, true
		}
	}
	writeError(w, http.StatusNotFound, fmt.Sprintf("rot: workload %q has no secret %q (sealctl secret list %s)", name, sname, name))
	return nil, false
}

func (s *Server) getSecret(w http.ResponseWriter, r *http.Request) {
	if sec, ok := s.findSecret(w, r); ok {
		writeJSON(w, http.StatusOK, secretInfo(sec, s.cfg.Now()))
	}
}

// putSecret creates or replaces a secret: the value is encrypted to the workload's current
// data key before it is stored, and never logged.
func (s *Server) putSecret(w http.ResponseWriter, r *http.Request) {
	name, sname := r.PathValue("name"), r.PathValue("secret")
	if err := rotapi.CheckSecretName(sname); err != nil {
		writeError(w, http.StatusBadRequest, "rot: "+err.Error())
		return
	}
	var req rotapi.SecretPut
	if code, err := decodeBody(w, r, &req); err != nil {
		writeError(w, code, err.Error())
		return
	}
	now := s.cfg.Now().UTC()
	switch {
	case len(req.Value) == 0:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("rot: secret %q has an empty value; fix: give --from-literal or --from-file with content", sname))
		return
	case len(req.Value) > rotapi.MaxSecretValue:
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("rot: secret %q is %d bytes, over the %d-byte limit; fix: store a larger value sealed (sealctl seal) and deliver its key as the secret", sname, len(req.Value), rotapi.MaxSecretValue))
		return
	case req.ExpiresAfter != nil && !req.ExpiresAfter.After(now):
		writeError(w, http.StatusBadRequest, fmt.Sprintf("rot: expiresAfter %s is not in the future; fix: give a later --expires-after (RFC 3339 or a duration from now, e.g. 24h)", req.ExpiresAfter.UTC().Format(time.RFC3339)))
		return
	case req.ExpiresAfter != nil && req.NotBefore != nil && !req.ExpiresAfter.After(*req.NotBefore):
		writeError(w, http.StatusBadRequest, fmt.Sprintf("rot: expiresAfter %s is not after notBefore %s; fix: swap or correct --not-before and --expires-after", req.ExpiresAfter.UTC().Format(time.RFC3339), req.NotBefore.UTC().Format(time.RFC3339)))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	wv, ok := s.v.Load().workloads[name]
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("rot: workload %q does not exist", name))
		return
	}
	for _, p := range req.Peers {
		if !wv.peers[p] {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("rot: peer %q is not a peer of workload %q; fix: name one of its peers (sealctl workload get %s), or none for every pod", p, name, name))
			return
		}
	}
	old := s.st.Secrets[name][sname]
	if old == nil && len(s.st.Secrets[name]) >= rotapi.MaxSecrets {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("rot: workload %q already has %d secrets, the limit; fix: delete one (sealctl secret delete) or keep several values in one secret", name, rotapi.MaxSecrets))
		return
	}
	_, cur, rcpt, err := dataKeys(wv.rec, s.opts)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	value, err := encryptArmored(req.Value, rcpt)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	sec := &store.Secret{Workload: name, Name: sname, Value: value, DataKeyIndex: cur.Index, Recipient: rcpt.String(),
		Created: now, Updated: now, NotBefore: utcPtr(req.NotBefore), ExpiresAfter: utcPtr(req.ExpiresAfter), Peers: slices.Compact(slices.Sorted(slices.Values(req.Peers)))}
	if old != nil {
		sec.Created = old.Created
	}
	if err := s.cfg.Store.PutSecret(r.Context(), sec); err != nil {
		writeError(w, storeStatus(err), fmt.Sprintf("rot: saving secret %q of %q: %v", sname, name, err))
		return
	}
	s.st.AddSecret(sec)
	s.publishSecretsLocked()
	action := "secret-create"
	if old != nil {
		action = "secret-update"
	}
	s.audit(r, action, "workload", name, "secret", sname, "dataKey", cur.Index, "bytes", len(req.Value))
	writeJSON(w, http.StatusOK, secretInfo(sec, now))
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func (s *Server) deleteSecret(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, ok := s.findSecret(w, r)
	if !ok {
		return
	}
	if err := s.cfg.Store.DeleteSecret(r.Context(), sec.Workload, sec.Name); err != nil && !errors.Is(err, store.ErrNotFound) {
		writeError(w, storeStatus(err), fmt.Sprintf("rot: deleting secret %q of %q: %v", sec.Name, sec.Workload, err))
		return
	}
	delete(s.st.Secrets[sec.Workload], sec.Name)
	s.publishSecretsLocked()
	s.audit(r, "secret-delete", "workload", sec.Workload, "secret", sec.Name)
	writeJSON(w, http.StatusOK, secretInfo(sec, s.cfg.Now()))
}

// exportSecrets answers the secrets document for an edge: every secret not yet expired, its
// value decrypted with the workload's data keys and encrypted to the edge's recipient.
func (s *Server) exportSecrets(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var req rotapi.ExportRequest
	if code, err := decodeBody(w, r, &req); err != nil {
		writeError(w, code, err.Error())
		return
	}
	rcpt, err := age.ParseX25519Recipient(strings.TrimSpace(req.Recipient))
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("rot: recipient %q is not an age X25519 recipient (age1...): %v; fix: age-keygen -y edge-key.txt prints it", req.Recipient, err))
		return
	}
	wv, ok := s.v.Load().workloads[name]
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("rot: workload %q does not exist", name))
		return
	}
	ids, _, _, err := dataKeys(wv.rec, s.opts)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	now := s.cfg.Now()
	doc := rotapi.SecretsDocument{Secrets: []rotapi.SecretEntry{}, Algorithm: rotapi.SecretsAlgorithm}
	for _, sec := range s.servedSecrets(name) {
		if secretState(sec, now) == rotapi.SecretExpired {
			continue
		}
		plain, err := decryptArmored(sec.Value, ids)
		if err != nil {
			writeError(w, http.StatusInternalServerError, fmt.Sprintf("rot: stored secret %q of %q does not decrypt with the workload's data keys: %v", sec.Name, name, err))
			return
		}
		e := entry(sec)
		if e.Value, err = encryptArmored(plain, rcpt); err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		doc.Secrets = append(doc.Secrets, e)
	}
	s.audit(r, "secrets-export", "workload", name, "recipient", rcpt.String(), "secrets", len(doc.Secrets))
	writeJSON(w, http.StatusOK, doc)
}

// entry is a secret's document entry with its stored (workload-encrypted) value.
func entry(sec *store.Secret) rotapi.SecretEntry {
	e := rotapi.SecretEntry{Name: sec.Name, Value: sec.Value, Created: sec.Created, Updated: sec.Updated,
		NotBefore: sec.Created, ExpiresAfter: sec.ExpiresAfter}
	if sec.NotBefore != nil {
		e.NotBefore = *sec.NotBefore
	}
	return e
}
