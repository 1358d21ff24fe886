package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Attestation files of a state directory:
//
//	DIR/attestation/keys/NAME.json       registered attestation keys (public keys)
//	DIR/attestation/policies/NAME.json   policies of reference values
const (
	attestKeysDir     = "attestation/keys"
	attestPoliciesDir = "attestation/policies"
)

func (f *File) loadAttestation(st *State) error {
	err := readAll(filepath.Join(f.dir, attestKeysDir), func(name, path string) error {
		var k AttestationKey
		if err := readJSON(path, &k); err != nil {
			return err
		}
		if k.Name != name || k.AKPub == "" {
			return fmt.Errorf("%w: %s: name %q or public key missing", ErrCorrupt, path, k.Name)
		}
		st.Attestation.Keys[name] = &k
		return nil
	})
	if err != nil {
		return err
	}
	return readAll(filepath.Join(f.dir, attestPoliciesDir), func(name, path string) error {
		var p AttestationPolicy
		if err := readJSON(path, &p); err != nil {
			return err
		}
		if p.Name != name || len(p.PCRs) == 0 {
			return fmt.Errorf("%w: %s: name %q or PCR values missing", ErrCorrupt, path, p.Name)
		}
		st.Attestation.Policies[name] = &p
		return nil
	})
}

// PutAttestationKey writes attestation/keys/NAME.json.
func (f *File) PutAttestationKey(_ context.Context, k *AttestationKey) error {
	return f.writeJSON(attestKeysDir, k.Name, k)
}

// DeleteAttestationKey removes attestation/keys/NAME.json.
func (f *File) DeleteAttestationKey(_ context.Context, name string) error {
	return f.remove(attestKeysDir, "attestation key", name)
}

// PutAttestationPolicy writes attestation/policies/NAME.json.
func (f *File) PutAttestationPolicy(_ context.Context, p *AttestationPolicy) error {
	return f.writeJSON(attestPoliciesDir, p.Name, p)
}

// DeleteAttestationPolicy removes attestation/policies/NAME.json.
func (f *File) DeleteAttestationPolicy(_ context.Context, name string) error {
	return f.remove(attestPoliciesDir, "attestation policy", name)
}

func (f *File) remove(sub, what, name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	err := os.Remove(filepath.Join(f.dir, sub, name+".json"))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s %q", ErrNotFound, what, name)
	}
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return syncDir(filepath.Join(f.dir, sub))
}
