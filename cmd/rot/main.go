// Command seal-rot is Seal's Root of Trust signer. See internal/rot/rotcmd and docs/rot.md.
package main

import (
	"os"

	"github.com/seal-dev/seal/internal/rot/rotcmd"
)

func main() {
	os.Exit(rotcmd.Main(os.Args[1:], os.Stdout, os.Stderr))
}
