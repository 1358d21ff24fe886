package rot_test

import (
	"fmt"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/seal-dev/seal/internal/ca"
	"github.com/seal-dev/seal/internal/rot"
	"github.com/seal-dev/seal/internal/rotapi"
)

// A workload's record, as sealctl workload create and a kubectl-made Workload get it: the
// request's spec becomes the store's record (RecordSpec), checked, and NewWorkloadRecord adds
// the Workload CA and data key 0.
func ExampleNewWorkloadRecord() {
	root, err := ca.NewRoot("example.org", 0, ca.Options{})
	if err != nil {
		panic(err)
	}
	spec := rot.RecordSpec(&rotapi.Workload{Name: "payments", Peers: []string{"api"}, DataKeyIndex: 7})
	if err := rot.CheckWorkloadSpec(&spec, spiffeid.RequireTrustDomainFromString("example.org")); err != nil {
		panic(err)
	}
	rec, err := rot.NewWorkloadRecord(root, "example.org", spec, 24*time.Hour, ca.Options{})
	if err != nil {
		panic(err)
	}
	fmt.Println(rec.Spec.Name, len(rec.CAs), rec.DataKeys[0].Index, rec.Incarnation == "")
	// Output: payments 1 0 true
}
