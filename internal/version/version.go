package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Version is the release version (v0.1.0). Empty unless set with -ldflags -X; read it through
// Get.
var Version string

// readBuildInfo is debug.ReadBuildInfo, replaced in tests.
var readBuildInfo = debug.ReadBuildInfo

// Get returns the version: -ldflags -X, else the main module's version from the build info
// (go install ...@v0.1.0), else "dev".
func Get() string {
	if Version != "" {
		return Version
	}
	if bi, ok := readBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// String is the line --version prints: "seal-rot v0.1.0 (go1.25.0 linux/amd64)".
func String(program string) string {
	return fmt.Sprintf("%s %s (%s %s/%s)", program, Get(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// Requested reports whether args ask for the version only: a sole --version or -version.
func Requested(args []string) bool {
	return len(args) == 1 && (args[0] == "--version" || args[0] == "-version")
}
