package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client/config"

	"github.com/seal-dev/seal/internal/ca"
	"github.com/seal-dev/seal/internal/kubestore"
	"github.com/seal-dev/seal/internal/rot"
	"github.com/seal-dev/seal/internal/rot/rotcmd"
	"github.com/seal-dev/seal/internal/store"
)

// seal-rot --kube keeps its state in the API server: in a pod through its service account,
// elsewhere through KUBECONFIG or ~/.kube/config (controller-runtime's config.GetConfig).
func init() { rotcmd.KubeStore = openKubeStore }

func openKubeStore(_ context.Context, namespace string, log *slog.Logger, workloadCATTL time.Duration, keys ca.Custody) (store.Store, func(context.Context, rot.AdminCredentials) error, error) {
	cfg, err := config.GetConfig()
	if err != nil {
		return nil, nil, fmt.Errorf("--kube: no Kubernetes API configuration (in-cluster service account, KUBECONFIG or ~/.kube/config): %w", err)
	}
	st, err := kubestore.New(cfg, namespace, kubestore.Options{Logger: log, WorkloadCATTL: workloadCATTL, Keys: keys})
	if err != nil {
		return nil, nil, err
	}
	writeAdmin := func(ctx context.Context, c rot.AdminCredentials) error {
		return st.WriteAdmin(ctx, c.Cert, c.Key, c.CA)
	}
	return st, writeAdmin, nil
}
