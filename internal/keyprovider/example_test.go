package keyprovider_test

import (
	"bytes"
	"crypto/rand"
	"fmt"

	"github.com/seal-dev/seal/internal/keyprovider"
)

// A layer key wrapped for the provider "seal" opens with the image key the ROT releases.
func ExampleWrap() {
	key := bytes.Repeat([]byte{1}, 32) // the image key (POST /v1/image-key)
	ann, err := keyprovider.Wrap(key, "0123456789abcdef0123456789abcdef", "seal1.egg", []byte(`{"symkey":"..."}`), rand.Reader)
	if err != nil {
		fmt.Println(err)
		return
	}
	a, err := keyprovider.ParseAnnotation(ann)
	if err != nil {
		fmt.Println(err)
		return
	}
	opts, err := a.Open(key)
	fmt.Println(a.ImageKey, string(opts), err)
	// Output: 0123456789abcdef0123456789abcdef {"symkey":"..."} <nil>
}
