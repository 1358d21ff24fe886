package invite_test

import (
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"time"

	"github.com/seal-dev/seal/internal/ca"
	"github.com/seal-dev/seal/internal/invite"
)

// An invite as the inviting ROT issues it, and as the joining side reads it back.
func ExampleParse() {
	root, err := ca.NewRoot("alpha.example", 0, ca.Options{})
	if err != nil {
		panic(err)
	}
	pin := invite.Digest([]*x509.Certificate{root.Cert})
	issued, err := invite.New("alpha.example", "https://rot.alpha.example:8443", pin, time.Now().Add(time.Hour), rand.Reader)
	if err != nil {
		panic(err)
	}
	text := issued.Encode() // what sealctl federation invite prints

	got, err := invite.Parse(text)
	if err != nil {
		panic(err)
	}
	fmt.Println(got.TrustDomain, got.BundleURL(), got.BundleDigest == pin, got.CheckExpiry(time.Now()))
	// Output: alpha.example https://rot.alpha.example:8443/v1/bundle true <nil>
}
