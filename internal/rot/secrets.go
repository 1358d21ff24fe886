package rot

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"

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

// dataKeys parses a workload's data keys: every identity (for decryption) and the current
// one's index and recipient (for encryption).
func dataKeys(rec *store.Workload) (ids []age.Identity, cur store.DataKey, r *age.X25519Recipient, err error) {
	if len(rec.DataKeys) == 0 {
		return nil, cur, nil, fmt.Errorf("rot: workload %q has no data key", rec.Spec.Name)
	}
	cur = slices.MaxFunc(rec.DataKeys, func(a, b store.DataKey) int { return a.Index - b.Index })
	for _, k := range rec.DataKeys {
		id, err := age.ParseX25519Identity(k.Identity)
		if err != nil {
			return nil, cur, nil, fmt.Errorf("rot: stored data key %d of %q: %w", k.Index, rec.Spec.Name, err)
		}
		ids = append(ids, id)
		if k.Index == cur.Index {
			r = id.Recipient()
		}
	}
	return ids, cur, r, nil
}

// encryptArmored age-encrypts plain to r, ASCII-armored.
func encryptArmored(plain []byte, r age.Recipient) (string, error) {
	var buf bytes.Buffer
	aw := armor.NewWriter(&buf)
	w, err := age.Encrypt(aw, r)
	if err != nil {
		return "", fmt.Errorf("rot: encrypting: %w", err)
	}
	if _, err := w.Write(plain); err != nil {
		return "", fmt.Errorf("rot: encrypting: %w", err)
	}
	if err := w.Close(); err != nil {
		return "", fmt.Errorf("rot: encrypting: %w", err)
	}
	if err := aw.Close(); err != nil {
		return "", fmt.Errorf("rot: encrypting: %w", err)
	}
	return buf.String(), nil
}

// decryptArmored opens an armored age value with any of ids.
func decryptArmored(value string, ids []age.Identity) ([]byte, error) {
	r, err := age.Decrypt(armor.NewReader(strings.NewReader(value)), ids...)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(io.LimitReader(r, rotapi.MaxSecretValue+1))
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
	_, cur, rcpt, err := dataKeys(wv.rec)
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
	ids, _, _, err := dataKeys(wv.rec)
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

// reencryptSecretsLocked re-encrypts rec's secrets to its current data key (after a data-key
// rotation). A secret that fails stays encrypted to its old key, which pods still hold.
func (s *Server) reencryptSecretsLocked(ctx context.Context, rec *store.Workload) error {
	ids, cur, rcpt, err := dataKeys(rec)
	if err != nil {
		return err
	}
	var errs []error
	for _, sec := range s.st.Secrets[rec.Spec.Name] {
		if sec.Recipient == rcpt.String() {
			continue
		}
		plain, err := decryptArmored(sec.Value, ids)
		if err != nil {
			errs = append(errs, fmt.Errorf("rot: secret %q of %q does not decrypt: %w", sec.Name, rec.Spec.Name, err))
			continue
		}
		n := *sec
		if n.Value, err = encryptArmored(plain, rcpt); err != nil {
			errs = append(errs, err)
			continue
		}
		n.DataKeyIndex, n.Recipient = cur.Index, rcpt.String()
		if err := s.cfg.Store.PutSecret(ctx, &n); err != nil {
			errs = append(errs, fmt.Errorf("rot: saving re-encrypted secret %q of %q: %w", sec.Name, rec.Spec.Name, err))
			continue
		}
		s.st.AddSecret(&n)
	}
	s.publishSecretsLocked()
	if err := errors.Join(errs...); err != nil {
		s.log.Error("re-encrypting secrets to the new data key failed; they stay encrypted to the old key, which pods still hold (fix: sealctl secret put them again)", "workload", rec.Spec.Name, "dataKey", cur.Index, "err", err)
		return err
	}
	return nil
}

// deleteSecretsLocked removes every secret of a workload being deleted.
func (s *Server) deleteSecretsLocked(ctx context.Context, workload string) error {
	for name := range s.st.Secrets[workload] {
		if err := s.cfg.Store.DeleteSecret(ctx, workload, name); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("rot: deleting secret %q of %q: %w", name, workload, err)
		}
	}
	delete(s.st.Secrets, workload)
	s.publishSecretsLocked()
	return nil
}

// publishSecretsLocked makes the stored secrets what GET /v1/secrets and the admin API read:
// per workload, sorted by name, leaving out secrets whose recipient is no data key of the
// workload (left by a deleted workload of the same name).
func (s *Server) publishSecretsLocked() {
	m := map[string]*workloadSecrets{}
	for wl, secs := range s.st.Secrets {
		rec := s.st.Workloads[wl]
		if rec == nil || len(secs) == 0 {
			continue
		}
		keys := map[string]bool{}
		for _, k := range rec.DataKeys {
			if id, err := age.ParseX25519Identity(k.Identity); err == nil {
				keys[id.Recipient().String()] = true
			}
		}
		ws := &workloadSecrets{}
		for _, sec := range secs {
			if keys[sec.Recipient] {
				ws.list = append(ws.list, sec)
			}
		}
		slices.SortFunc(ws.list, func(a, b *store.Secret) int { return cmp.Compare(a.Name, b.Name) })
		m[wl] = ws
	}
	s.sec.snap.Store(&m)
}
