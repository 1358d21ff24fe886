package rot_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/seal-dev/seal/internal/rot/rottest"
	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/store"
)

// conflictingStore is a real file store whose writes lose the race to another replica while
// conflict is set, as the Kubernetes store's do when another seal-rot wrote first.
type conflictingStore struct {
	*store.File
	conflict atomic.Bool
}

func (s *conflictingStore) PutWorkload(ctx context.Context, w *store.Workload) error {
	if s.conflict.Load() {
		return fmt.Errorf("kube: secret seal-workload-%s: %w", w.Spec.Name, store.ErrConflict)
	}
	return s.File.PutWorkload(ctx, w)
}

func (s *conflictingStore) PutEgg(ctx context.Context, e *store.Egg) error {
	if s.conflict.Load() {
		return fmt.Errorf("kube: eggs shard: %w", store.ErrConflict)
	}
	return s.File.PutEgg(ctx, e)
}

// TestStoreConflictIs409: a change another replica beat is answered 409 Conflict (retry), not
// 500, and nothing of it is kept.
func TestStoreConflictIs409(t *testing.T) {
	f, err := store.OpenFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	st := &conflictingStore{File: f}
	r := rottest.Start(t, rottest.WithStore(st))
	r.CreateWorkload(t, rotapi.Workload{Name: "payments"})
	st.conflict.Store(true)
	for _, call := range []struct {
		name, method, path string
		body               any
	}{
		{"create workload", http.MethodPost, rotapi.PathWorkloads, rotapi.Workload{Name: "billing"}},
		{"mint egg", http.MethodPost, rotapi.Path(rotapi.PathEggs, "payments"), rotapi.MintRequest{}},
		{"rotate data key", http.MethodPost, rotapi.Path(rotapi.PathKeys, "payments"), nil},
	} {
		t.Run(call.name, func(t *testing.T) {
			err := r.Admin.Do(context.Background(), call.method, call.path, call.body, nil)
			var se *rotapi.StatusError
			if !errors.As(err, &se) || se.Code != http.StatusConflict {
				t.Fatalf("got %v, want 409 Conflict", err)
			}
		})
	}
	var list []rotapi.Workload
	if err := r.Admin.Do(context.Background(), http.MethodGet, rotapi.PathWorkloads, nil, &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 {
		t.Errorf("after the conflicts the ROT lists %d workloads, want only payments", len(list))
	}
}
