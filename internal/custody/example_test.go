package custody_test

import (
	"fmt"
	"strings"

	"github.com/seal-dev/seal/internal/ca"
	"github.com/seal-dev/seal/internal/custody"
)

// A ROT CA made under a KEK is stored sealed, and opens again only with that KEK.
func ExampleNewFile() {
	kek := make([]byte, custody.KEKSize) // seal-rot reads it from --kek-file
	keys, err := custody.NewFile(kek, nil)
	if err != nil {
		panic(err)
	}
	opts := ca.Options{Custody: keys}
	root, err := ca.NewRoot("prod.example.org", 0, opts)
	if err != nil {
		panic(err)
	}
	stored, err := opts.StoredKey(root) // what the state keeps instead of the PEM key
	if err != nil {
		panic(err)
	}
	fmt.Println(strings.HasPrefix(stored, "seal-kek:v1:"), len(custody.ScanClear([]byte(stored))))

	again, err := opts.Open(string(root.CertPEM()), stored)
	fmt.Println(err == nil && again.Fingerprint() == root.Fingerprint())

	clear, _ := custody.NewFile(nil, nil)
	_, err = clear.Open(string(root.CertPEM()), stored)
	fmt.Println(err == custody.ErrKEKRequired)
	// Output:
	// true 0
	// true
	// true
}
