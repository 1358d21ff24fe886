package kubeconfig_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/seal-dev/seal/internal/kubeconfig"
)

// Issue a kubeconfig for a CI pipeline in two clusters, reached with their admin kubeconfigs,
// and write it.
func ExampleIssue() {
	targets, err := kubeconfig.LoadTargets([]string{"east.kubeconfig", "west.kubeconfig"}, nil)
	if err != nil {
		log.Fatal(err)
	}
	cfg, err := kubeconfig.Issue(context.Background(), targets, kubeconfig.Options{
		User:    "ci-deployer",
		Groups:  []string{"seal:deployers"},
		TTL:     2 * time.Hour,
		Timeout: time.Minute,
		Log:     os.Stderr,
	})
	if err != nil {
		log.Fatal(err) // e.g. errors.Is(err, kubeconfig.ErrDenied)
	}
	if err := kubeconfig.WriteFile("ci.kubeconfig", cfg); err != nil {
		log.Fatal(err)
	}
}

// Show who a kubeconfig names and until when.
func ExampleInspect() {
	b, err := os.ReadFile("testdata/ci.kubeconfig")
	if err != nil {
		log.Fatal(err)
	}
	ctxs, err := kubeconfig.Inspect(b)
	if err != nil {
		log.Fatal(err)
	}
	for _, c := range ctxs {
		fmt.Println(c.Name, c.User, c.Groups, c.Server, c.NotAfter.Format(time.RFC3339))
	}
	// Output:
	// east ci-deployer [seal:deployers] https://east.example:6443 2036-11-26T12:00:00Z
	// west ci-deployer [seal:deployers] https://west.example:6443 2036-11-26T12:00:00Z
}
