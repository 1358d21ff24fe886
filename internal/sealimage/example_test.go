package sealimage_test

import (
	"context"
	"fmt"

	"github.com/seal-dev/seal/internal/sealimage"
)

// Seal appends the Egg to an image and pushes it to a repository by digest.
func ExampleSeal() {
	res, err := sealimage.Seal(context.Background(), "registry.invalid/app:1.0", "registry.invalid/app-sealed",
		sealimage.Options{Egg: "seal1....", EggPath: "etc/seal/egg"})
	fmt.Println(res, err)
	// Output: <nil> sealimage: --egg-path "etc/seal/egg" is not a clean absolute file path
}
