package ociimage

import (
	"context"
	"fmt"
	"os"
	"os/exec"
)

// GoBuild builds the main package pkg (relative to dir, the module root) as a static
// (CGO_ENABLED=0) linux binary for goarch into out.
func GoBuild(ctx context.Context, dir, pkg, goarch, out string, ldflags string) error {
	args := []string{"build", "-trimpath", "-o", out}
	if ldflags != "" {
		args = append(args, "-ldflags", ldflags)
	}
	cmd := exec.CommandContext(ctx, "go", append(args, pkg)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ociimage: go build %s for %s: %v\n%s", pkg, goarch, err, b)
	}
	return nil
}
