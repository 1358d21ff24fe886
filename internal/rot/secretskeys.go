package rot

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"filippo.io/age"
	"filippo.io/age/armor"

	"github.com/seal-dev/seal/internal/ca"
	"github.com/seal-dev/seal/internal/custody"
	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/store"
)

// dataKeys parses a workload's data keys, opened through the key provider o (they are sealed
// at rest under a KEK or a token's key): every identity (for decryption) and the current one's
// index and recipient (for encryption).
func dataKeys(rec *store.Workload, o ca.Options) (ids []age.Identity, cur store.DataKey, r *age.X25519Recipient, err error) {
	if len(rec.DataKeys) == 0 {
		return nil, cur, nil, fmt.Errorf("rot: workload %q has no data key", rec.Spec.Name)
	}
	cur = slices.MaxFunc(rec.DataKeys, func(a, b store.DataKey) int { return a.Index - b.Index })
	for _, k := range rec.DataKeys {
		plain, err := o.Unseal(custody.DataKeyName(rec.Spec.Name, k.Index), k.Identity)
		if err != nil {
			return nil, cur, nil, fmt.Errorf("rot: stored data key %d of %q: %w", k.Index, rec.Spec.Name, err)
		}
		id, err := age.ParseX25519Identity(string(plain))
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

// reencryptSecretsLocked re-encrypts rec's secrets to its current data key (after a data-key
// rotation). A secret that fails stays encrypted to its old key, which pods still hold.
func (s *Server) reencryptSecretsLocked(ctx context.Context, rec *store.Workload) error {
	ids, cur, rcpt, err := dataKeys(rec, s.opts)
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
			plain, err := s.opts.Unseal(custody.DataKeyName(wl, k.Index), k.Identity) // sealed under a KEK or token
			if err != nil {
				continue
			}
			if id, err := age.ParseX25519Identity(string(plain)); err == nil {
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
