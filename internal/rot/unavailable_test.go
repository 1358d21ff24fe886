package rot_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/seal-dev/seal/internal/rot/rottest"
	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/store"
)

// downStore is a real file store whose writes fail as the Kubernetes store's do while the API
// server is down.
type downStore struct {
	*store.File
	down atomic.Bool
}

func (s *downStore) PutEgg(ctx context.Context, e *store.Egg) error {
	if s.down.Load() {
		return fmt.Errorf("kubestore: the Kubernetes API server is unreachable: %w", store.ErrUnavailable)
	}
	return s.File.PutEgg(ctx, e)
}

// TestStoreUnavailableIs503: an admin change while the store does not answer is 503 Service
// Unavailable (retry later) with the store's message, not 500; redemption goes on.
func TestStoreUnavailableIs503(t *testing.T) {
	f, err := store.OpenFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	st := &downStore{File: f}
	r := rottest.Start(t, rottest.WithStore(st))
	r.CreateWorkload(t, rotapi.Workload{Name: "payments"})
	st.down.Store(true)
	err = r.Admin.Do(context.Background(), http.MethodPost, rotapi.Path(rotapi.PathEggs, "payments"), rotapi.MintRequest{}, nil)
	var se *rotapi.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusServiceUnavailable || !strings.Contains(se.Message, "API server is unreachable") {
		t.Fatalf("minting while the store is down: %v, want 503 naming the unreachable API server", err)
	}
}
