package rot

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/seal-dev/seal/internal/custody"
	"github.com/seal-dev/seal/internal/egg"
	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/store"
)

// Image keys: sealctl image seal --encrypt gets a fresh key for one image (admin), and a
// node's seal-keyprovider gets it back (POST /v1/image-key) only with an Egg of the image's
// workload, valid attestation evidence under the workload's policy, and the pod's token when
// the workload is bound. The key is stored sealed by the key custody, like data keys.

var errImageKeyRequest = errors.New("rot: image key request")

// decodeImageKeyRequest reads and checks a POST /v1/image-key body.
func decodeImageKeyRequest(r io.Reader) (*rotapi.ImageKeyRequest, error) {
	var req rotapi.ImageKeyRequest
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return nil, fmt.Errorf("%w: body is not the expected JSON: %v", errImageKeyRequest, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the JSON object", errImageKeyRequest)
	}
	if req.Egg == "" {
		return nil, fmt.Errorf("%w: no egg", errImageKeyRequest)
	}
	if !rotapi.ValidImageKeyID(req.ImageKey) {
		return nil, fmt.Errorf("%w: imageKey %q is not an image key id (%d hex digits)", errImageKeyRequest, clip(req.ImageKey), rotapi.ImageKeyIDLen)
	}
	return &req, nil
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

func (s *Server) imageKeyRoutes(mux *http.ServeMux, admin func(http.HandlerFunc) http.HandlerFunc) {
	mux.Handle(rotapi.PathImageKey, methods{http.MethodPost: s.releaseImageKey})
	mux.Handle(rotapi.PathImageKeys, methods{http.MethodPost: admin(s.createImageKey)})
}

// createImageKey is POST /v1/admin/workloads/{name}/image-keys.
func (s *Server) createImageKey(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	wv, ok := s.v.Load().workloads[name]
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("rot: workload %q does not exist", name))
		return
	}
	if wv.rec.Spec.Attest == "" {
		writeError(w, http.StatusConflict, fmt.Sprintf("rot: workload %q has no attestation policy, and an encrypted image's key is "+
			"released only to attested nodes; fix: create the workload with --attest POLICY", name))
		return
	}
	ks, ok := s.cfg.Store.(store.ImageKeyStore)
	if !ok {
		writeError(w, http.StatusNotImplemented, "rot: this ROT's store does not keep image keys")
		return
	}
	raw := make([]byte, rotapi.ImageKeyIDLen/2+rotapi.ImageKeySize)
	if _, err := io.ReadFull(s.cfg.Rand, raw); err != nil {
		writeError(w, http.StatusInternalServerError, "rot: reading randomness: "+err.Error())
		return
	}
	id, key := hex.EncodeToString(raw[:rotapi.ImageKeyIDLen/2]), raw[rotapi.ImageKeyIDLen/2:]
	stored, err := s.opts.Seal(custody.ImageKeyName(id), []byte(base64.StdEncoding.EncodeToString(key)))
	if err != nil {
		writeError(w, http.StatusInternalServerError, "rot: sealing the image key: "+err.Error())
		return
	}
	rec := &store.ImageKey{ID: id, Workload: name, Key: stored, Created: s.cfg.Now().UTC()}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := ks.PutImageKey(r.Context(), rec); err != nil {
		writeError(w, storeStatus(err), err.Error())
		return
	}
	if s.st.ImageKeys == nil {
		s.st.ImageKeys = map[string]*store.ImageKey{}
	}
	s.st.ImageKeys[id] = rec
	s.audit(r, "image-key-create", "workload", name, "imageKey", id)
	writeJSON(w, http.StatusCreated, rotapi.ImageKey{ID: id, Workload: name, Key: key, Created: rec.Created})
}

// releaseImageKey is POST /v1/image-key.
func (s *Server) releaseImageKey(w http.ResponseWriter, r *http.Request) {
	if wait, ok := s.redeemSt.perClient.take(clientKey(r), s.cfg.Now()); !ok {
		w.Header().Set("Retry-After", retryAfter(wait))
		writeError(w, http.StatusTooManyRequests, fmt.Sprintf("image-key: too many requests from %s: retry in %ss", clientKey(r), retryAfter(wait)))
		return
	}
	req, err := decodeImageKeyRequest(http.MaxBytesReader(w, r.Body, rotapi.MaxBodyBytes))
	if err != nil {
		writeError(w, http.StatusBadRequest, "image-key: "+err.Error())
		return
	}
	key, c, ref := s.imageKeyFor(r, req)
	if ref != nil {
		attrs := []any{"audit", true, "result", ref.result, "err", ref.err.Error(), "imageKey", req.ImageKey, "remote", r.RemoteAddr}
		if c != nil {
			attrs = append(attrs, "egg", c.ID, "workload", c.Workload)
		}
		s.log.Warn("image key refused", attrs...)
		writeError(w, ref.code, "image-key: "+ref.err.Error())
		return
	}
	s.log.Info("image key released", "audit", true, "imageKey", key.ID, "egg", c.ID, "workload", c.Workload, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, key)
}

// imageKeyFor runs the checks of a release, in order: the Egg opens and is live, the key
// exists and is of the Egg's workload, the workload requires attestation, the pod's token (when
// bound), the evidence.
func (s *Server) imageKeyFor(r *http.Request, req *rotapi.ImageKeyRequest) (*rotapi.ImageKey, *egg.Claims, *refusal) {
	v := s.v.Load()
	o, err := egg.Parse(req.Egg)
	if err != nil {
		return nil, nil, &refusal{http.StatusBadRequest, "malformed", err, 0}
	}
	c, err := egg.Open(v.keyring, v.td.Name(), o, s.cfg.Now())
	if err != nil {
		return nil, nil, &refusal{http.StatusForbidden, "egg", err, 0}
	}
	if !v.eggs[c.ID] || v.revoked[c.ID] {
		return nil, c, &refusal{http.StatusForbidden, "revoked", fmt.Errorf("egg %s is revoked or has no record at this ROT", c.ID), 0}
	}
	s.mu.Lock()
	rec := s.st.ImageKeys[req.ImageKey]
	s.mu.Unlock()
	if rec == nil {
		return nil, c, &refusal{http.StatusNotFound, "unknown_image_key", fmt.Errorf("image key %s does not exist at this ROT "+
			"(the image was encrypted by another ROT, or its key was lost)", req.ImageKey), 0}
	}
	if rec.Workload != c.Workload {
		return nil, c, &refusal{http.StatusForbidden, "other_workload", fmt.Errorf("image key %s is of workload %q, the Egg of workload %q",
			req.ImageKey, rec.Workload, c.Workload), 0}
	}
	wv, ok := v.workloads[c.Workload]
	if !ok || (c.Incarnation != "" && c.Incarnation != wv.rec.Incarnation) {
		return nil, c, &refusal{http.StatusForbidden, "unknown_workload", fmt.Errorf("workload %q of egg %s does not exist (any more)", c.Workload, c.ID), 0}
	}
	if wv.rec.Spec.Attest == "" {
		return nil, c, &refusal{http.StatusForbidden, "attestation_policy", fmt.Errorf("workload %q has no attestation policy, "+
			"and image keys are released only to attested nodes; fix: give the workload an attestation policy", c.Workload), 0}
	}
	if ref := s.checkPod(r.Context(), v, wv, req.Token); ref != nil {
		return nil, c, ref
	}
	if ref := s.checkAttestation(v, wv, c, req.Evidence); ref != nil {
		return nil, c, ref
	}
	b, err := s.opts.Unseal(custody.ImageKeyName(rec.ID), rec.Key)
	if err != nil {
		return nil, c, &refusal{http.StatusInternalServerError, "internal", fmt.Errorf("opening image key %s: %w", rec.ID, err), 0}
	}
	key, err := base64.StdEncoding.DecodeString(string(b))
	if err != nil || len(key) != rotapi.ImageKeySize {
		return nil, c, &refusal{http.StatusInternalServerError, "internal", fmt.Errorf("image key %s is corrupt", rec.ID), 0}
	}
	return &rotapi.ImageKey{ID: rec.ID, Workload: rec.Workload, Key: key, Created: rec.Created}, c, nil
}
