package kubestore_test

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client/config"

	"github.com/seal-dev/seal/internal/kubestore"
)

// A store for the namespace seal-system of the cluster in KUBECONFIG (or in-cluster), as
// seal-rot serve --kube builds it.
func ExampleNew() {
	cfg, err := config.GetConfig()
	if err != nil {
		fmt.Println(err)
		return
	}
	st, err := kubestore.New(cfg, "seal-system", kubestore.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	state, err := st.Load(context.Background())
	if err != nil {
		fmt.Println(err) // store.ErrCorrupt names the Secret that does not parse
		return
	}
	fmt.Println("first start:", state.Authority == nil, "workloads:", len(state.Workloads))
}
