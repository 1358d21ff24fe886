package store

import (
	"context"
	"fmt"
	"path/filepath"
)

// invitesDir holds DIR/invites/ID.json: federation invites (store.Invite).
const invitesDir = "invites"

// PutInvite writes invites/ID.json.
func (f *File) PutInvite(_ context.Context, i *Invite) error {
	return f.writeJSON(invitesDir, i.ID, i)
}

// loadInvites reads invites/*.json into st.
func (f *File) loadInvites(st *State) error {
	return readAll(filepath.Join(f.dir, invitesDir), func(name, path string) error {
		var i Invite
		if err := readJSON(path, &i); err != nil {
			return err
		}
		if i.ID != name {
			return fmt.Errorf("%w: %s holds invite %q", ErrCorrupt, path, i.ID)
		}
		st.Invites[name] = &i
		return nil
	})
}
