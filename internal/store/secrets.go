package store

import (
	"fmt"
	"time"

	"github.com/seal-dev/seal/internal/rotapi"
)

// Secret is one secret of a workload (sealctl secret put): its value is age-encrypted to one of
// the workload's data keys, never stored in the clear. The ROT re-encrypts it to the new
// current data key when the workload's data keys rotate.
type Secret struct {
	Workload string `json:"workload"`
	Name     string `json:"name"`
	// Value is the age-encrypted value, ASCII-armored.
	Value string `json:"value"`
	// DataKeyIndex and Recipient name the data key Value is encrypted to. A secret whose
	// recipient is no data key of its workload (left from a deleted workload of the same
	// name) is not served.
	DataKeyIndex int       `json:"dataKeyIndex"`
	Recipient    string    `json:"recipient"`
	Created      time.Time `json:"created"`
	Updated      time.Time `json:"updated"`
	// NotBefore and ExpiresAfter bound when the secret is delivered; nil means no bound.
	NotBefore    *time.Time `json:"notBefore,omitempty"`
	ExpiresAfter *time.Time `json:"expiresAfter,omitempty"`
	// Peers, when not empty, limits delivery to pods of these peers of the workload.
	Peers []string `json:"peers,omitempty"`
}

// CheckSecretName accepts 1-128 letters, digits, '-', '_' and '.', not starting with '.': a
// name that is safe as a file name in the pod and as a Kubernetes Secret key.
func CheckSecretName(name string) error {
	if err := rotapi.CheckSecretName(name); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// check reports what makes a loaded secret record unusable.
func (s *Secret) check() error {
	if err := CheckSecretName(s.Name); err != nil {
		return err
	}
	if s.Workload == "" || s.Value == "" || s.Recipient == "" {
		return fmt.Errorf("store: secret %q lacks its workload, value or recipient", s.Name)
	}
	return nil
}

// CheckSecret is check for other stores (the Kubernetes store).
func CheckSecret(s *Secret) error { return s.check() }

// addSecret puts s into st.Secrets.
func (st *State) addSecret(s *Secret) {
	if st.Secrets == nil {
		st.Secrets = map[string]map[string]*Secret{}
	}
	if st.Secrets[s.Workload] == nil {
		st.Secrets[s.Workload] = map[string]*Secret{}
	}
	st.Secrets[s.Workload][s.Name] = s
}

// AddSecret puts s into the state's secrets (for stores in other packages).
func (st *State) AddSecret(s *Secret) { st.addSecret(s) }
