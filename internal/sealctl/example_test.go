package sealctl_test

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/seal-dev/seal/internal/sealctl"
)

// Run is what cmd/sealctl calls: it returns the exit code and prints one error line on stderr.
func ExampleRun() {
	code := sealctl.Run(context.Background(), []string{"egg", "mint"}, strings.NewReader(""), os.Stdout, os.Stdout)
	fmt.Println("exit code", code)
	// Output:
	// sealctl: egg mint needs WORKLOAD (see sealctl egg mint --help)
	// exit code 2
}
