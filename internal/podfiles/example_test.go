package podfiles_test

import (
	"fmt"
	"log"
	"os"

	"github.com/seal-dev/seal/internal/podfiles"
)

func Example() {
	dir, err := os.MkdirTemp("", "seal-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	w := &podfiles.Writer{Dir: dir}
	for _, gen := range []string{"first", "second"} {
		if err := w.Write(map[string][]byte{
			"tls.crt":             []byte(gen + " certificate"),
			"tls.key":             []byte(gen + " key"),
			"bundles/example.pem": []byte(gen + " bundle"),
		}); err != nil {
			log.Fatal(err)
		}
	}
	// Both files of one generation, even while a writer swaps the set.
	files, err := podfiles.Read(dir, "tls.crt", "tls.key")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s / %s\n", files["tls.crt"], files["tls.key"])
	link, _ := os.Readlink(dir + "/tls.crt")
	fmt.Println("tls.crt ->", link)
	// Output:
	// second certificate / second key
	// tls.crt -> ..data/tls.crt
}
