package kubestore

import (
	"errors"
	"net/url"
	"syscall"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/seal-dev/seal/internal/store"
)

// TestConflictMapsErrors: the API server's answers become the store's sentinels, so the ROT
// answers 409 (retry: another replica won) or 503 (the API server is down) instead of 500.
func TestConflictMapsErrors(t *testing.T) {
	gr := schema.GroupResource{Resource: "secrets"}
	for _, tt := range []struct {
		name string
		err  error
		want error
	}{
		{"conflict", apierrors.NewConflict(gr, "x", errors.New("modified")), store.ErrConflict},
		{"already exists", apierrors.NewAlreadyExists(gr, "x"), store.ErrConflict},
		{"connection refused", &url.Error{Op: "Get", URL: "https://127.0.0.1:6443/api", Err: syscall.ECONNREFUSED}, store.ErrUnavailable},
		{"shutting down", apierrors.NewServiceUnavailable("shutting down"), store.ErrUnavailable},
		{"timeout", apierrors.NewTimeoutError("slow", 1), store.ErrUnavailable},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := conflict(tt.err, "writing secret ns/x")
			if !errors.Is(got, tt.want) {
				t.Errorf("conflict(%v) = %v, want it to wrap %v", tt.err, got, tt.want)
			}
		})
	}
	if got := conflict(apierrors.NewForbidden(gr, "x", errors.New("rbac")), "writing"); errors.Is(got, store.ErrConflict) || errors.Is(got, store.ErrUnavailable) {
		t.Errorf("a 403 became %v, want neither a conflict nor unavailable", got)
	}
}
