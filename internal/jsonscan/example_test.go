package jsonscan_test

import (
	"fmt"

	"github.com/seal-dev/seal/internal/jsonscan"
)

// Read one field of a document, skipping (and validating) the rest.
func Example() {
	d := jsonscan.New([]byte(`{"spec":{"env":[{"name":"A","value":"x"}]},"metadata":{"name":"web"}}`))
	var name string
	err := d.Object()
	for n := 0; err == nil; n++ {
		var k []byte
		var ok bool
		if k, ok, err = d.Key(n); err != nil || !ok {
			break
		}
		if string(k) != "metadata" {
			err = d.Skip()
			continue
		}
		if err = d.Object(); err != nil {
			break
		}
		for m := 0; err == nil; m++ {
			if k, ok, err = d.Key(m); err != nil || !ok {
				break
			}
			if string(k) == "name" {
				name, err = d.String()
			} else {
				err = d.Skip()
			}
		}
	}
	if err == nil {
		err = d.End()
	}
	fmt.Println(name, err)
	// Output: web <nil>
}
