package verify_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/seal-dev/seal/internal/verify"
)

// CheckFile gives CI the webhook's decision for an image, from a policy file.
func ExampleCheckFile() {
	dir, _ := os.MkdirTemp("", "policy")
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "policy.yaml")
	_ = os.WriteFile(file, []byte(`apiVersion: seal.dev/v1alpha1
kind: ApprovedImage
metadata: {name: busybox}
spec: {image: "busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}
`), 0o600)
	d, err := verify.CheckFile(context.Background(), "busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", file)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(d.Allowed, d.Reason, d.Message)
	// Output: true ApprovedImage approved by ApprovedImage busybox
}
