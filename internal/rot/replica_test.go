package rot_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/seal-dev/seal/internal/rot/rottest"
	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/store"
)

// laggingStore is a real file store whose Load leaves out one workload while hide is set: the
// ROT loading through it is a replica whose watch has not yet seen a workload another replica
// just created.
type laggingStore struct {
	*store.File
	hide atomic.Pointer[string]
}

func (s *laggingStore) Load(ctx context.Context) (*store.State, error) {
	st, err := s.File.Load(ctx)
	if h := s.hide.Load(); err == nil && h != nil {
		delete(st.Workloads, *h)
	}
	return st, err
}

// TestWorkloadFromOtherReplica: `sealctl workload create` answered by one replica, then `sealctl
// egg mint` (and the other workload writes) answered by another that has not caught up yet:
// the second replica looks in the store before answering 404 (found with make chaos's HA drill).
func TestWorkloadFromOtherReplica(t *testing.T) {
	for _, call := range []struct {
		name, method, path string
		body               any
		want               int
	}{
		{"mint egg", http.MethodPost, rotapi.Path(rotapi.PathEggs, "late"), rotapi.MintRequest{}, http.StatusCreated},
		{"rotate data key", http.MethodPost, rotapi.Path(rotapi.PathKeys, "late"), nil, http.StatusOK},
		{"rotate workload CA", http.MethodPost, rotapi.Path(rotapi.PathRotateWorkloadCA, "late"), nil, http.StatusOK},
		{"issue an external cert", http.MethodPost, rotapi.Path(rotapi.PathCert, "late"), rotapi.CertRequest{Peer: "any", CSR: csrPEM(t)}, http.StatusOK},
		{"current data key", http.MethodGet, rotapi.Path(rotapi.PathKeys, "late"), nil, http.StatusOK},
		{"get workload", http.MethodGet, rotapi.Path(rotapi.PathWorkload, "late"), nil, http.StatusOK},
		{"delete workload", http.MethodDelete, rotapi.Path(rotapi.PathWorkload, "late"), nil, http.StatusOK},
	} {
		t.Run(call.name, func(t *testing.T) {
			f, err := store.OpenFile(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			st := &laggingStore{File: f}
			r := rottest.Start(t, rottest.WithStore(st))
			r.CreateWorkload(t, rotapi.Workload{Name: "late"})
			// The ROT forgets it (a reload that misses it), and the store has it: what a replica
			// is when another one created the workload a moment ago.
			name := "late"
			st.hide.Store(&name)
			if err := r.Server.Reload(context.Background()); err != nil {
				t.Fatal(err)
			}
			st.hide.Store(nil)
			err = r.Admin.Do(context.Background(), call.method, call.path, call.body, nil)
			if err != nil {
				t.Fatalf("got %v, want it answered from the store's workload (HTTP %d)", err, call.want)
			}
		})
	}
}

func csrPEM(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}
