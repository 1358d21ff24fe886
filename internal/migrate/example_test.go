package migrate_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/seal-dev/seal/internal/migrate"
	"github.com/seal-dev/seal/internal/store"
	"github.com/seal-dev/seal/internal/store/storetest"
)

// Moving a state directory to another one; a Kubernetes store (kubestore) goes the same way.
func ExampleMigrate() {
	tmp, _ := os.MkdirTemp("", "migrate")
	defer os.RemoveAll(tmp)
	from, _ := store.OpenFile(filepath.Join(tmp, "old"))
	defer from.Close()
	_ = from.PutAuthority(context.Background(), storetest.Authority())
	_ = from.PutWorkload(context.Background(), storetest.Workload())
	to, _ := store.OpenFile(filepath.Join(tmp, "new"))
	defer to.Close()
	plan, err := migrate.Migrate(context.Background(), from, to, migrate.Options{})
	if err != nil {
		panic(err)
	}
	fmt.Println(plan.TrustDomain, plan.Counts)
	// Output: conformance.example [{authority 1} {clusters 0} {attestation keys 0} {attestation policies 0} {workloads 1} {secrets 0} {egg records 0} {bundles 0} {federation invites 0} {image keys 0}]
}
