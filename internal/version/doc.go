// Package version is the version of Seal's binaries: set at build time with
//
//	go build -ldflags "-X github.com/seal-dev/seal/internal/version.Version=v0.1.0"
//
// (make build and make images do), otherwise the module version `go install` recorded, or
// "dev". Every binary prints it with --version; seal-webhook writes it into seal.dev/status and
// seal-rot serves it on /healthz for `sealctl version`.
package version
