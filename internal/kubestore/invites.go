package kubestore

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seal-dev/seal/internal/store"
)

// InvitesSecret holds the federation invites' records (store.Invite), one key per invite id.
const InvitesSecret = "seal-rot-invites"

// PutInvite writes the invite's record under its id in Secret seal-rot-invites.
func (s *Store) PutInvite(ctx context.Context, i *store.Invite) error {
	if i.ID == "" || !isSecretKey(i.ID) {
		return fmt.Errorf("kubestore: invalid invite id %q", i.ID)
	}
	b, err := json.Marshal(i)
	if err != nil {
		return fmt.Errorf("kubestore: encoding invite: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if i.Used == nil {
		return s.putKey(ctx, InvitesSecret, "invites", i.ID, b)
	}
	// Marking an invite used is the single use: another ROT replica may have used it a moment
	// ago (each checks its own copy of the state), so the write checks the stored record.
	return s.putKeyIf(ctx, InvitesSecret, "invites", i.ID, b, func(old []byte) error {
		var prev store.Invite
		if old != nil && json.Unmarshal(old, &prev) == nil && prev.Used != nil {
			return fmt.Errorf("%w: invite %s was used by %s at another ROT replica", store.ErrConflict, i.ID, prev.UsedBy)
		}
		return nil
	})
}

// loadInvites reads Secret seal-rot-invites into st (none: no invites).
func (s *Store) loadInvites(ctx context.Context, st *store.State) error {
	return s.loadRecords(ctx, InvitesSecret, func(id string, sec *corev1.Secret) error {
		var i store.Invite
		if err := decodeKey(sec, id, &i); err != nil {
			return s.corrupt(InvitesSecret, "%v", err)
		}
		if i.ID != id {
			return s.corrupt(InvitesSecret, "key %q holds invite %q", id, i.ID)
		}
		st.Invites[id] = &i
		return nil
	})
}

// loadRecords calls each for every key of Secret name, a record per key (none: no Secret).
func (s *Store) loadRecords(ctx context.Context, name string, each func(key string, sec *corev1.Secret) error) error {
	var sec corev1.Secret
	err := s.c.Get(ctx, client.ObjectKey{Namespace: s.ns, Name: name}, &sec)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("kubestore: reading secret %s/%s: %w", s.ns, name, err)
	}
	for key := range sec.Data {
		if err := each(key, &sec); err != nil {
			return err
		}
	}
	return nil
}
