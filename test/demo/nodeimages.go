package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/seal-dev/seal/hack/ociimage"
	"github.com/seal-dev/seal/internal/testing/testenv"
)

// demoAppImage is the tag the demo app is imported under (not latest: the kubelet uses it as
// imported, with imagePullPolicy IfNotPresent).
const demoAppImage = "demo.seal.dev/demoapp:v1"

// nodeImages builds seal-init (from BinDir) and the demo app (test/demoapp, built now) as
// single-binary images, without a container engine, and imports them into the node's
// containerd. seal-init is tagged as the image seal-webhook injects, so the kubelet finds it
// there. It returns the demo app's image.
func (d *story) nodeImages(ctx context.Context, node *testenv.Node) (string, error) {
	dir, err := os.MkdirTemp(d.dir, "node-images-")
	if err != nil {
		return "", err
	}
	app := filepath.Join(dir, "demoapp")
	if err := ociimage.GoBuild(ctx, testenv.RepoRoot(), "./test/demoapp", runtime.GOARCH, app, "-s -w"); err != nil {
		return "", fmt.Errorf("demo: building the demo app: %w", err)
	}
	platform := v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
	agent, err := os.ReadFile(filepath.Join(d.bin, "seal-agent"))
	if err != nil {
		return "", fmt.Errorf("demo: %w", err)
	}
	for _, im := range []struct {
		ref, name, bin string
		links          []string
		companions     []ociimage.Companion
	}{
		// The published layout: /usr/local/bin/seal-init, linked from /seal-init (--init-binary),
		// and seal-agent beside it (--agent-binary).
		{d.img.initImage, "seal-init", filepath.Join(d.bin, "seal-init"), []string{"/seal-init"},
			[]ociimage.Companion{{Path: "/usr/local/bin/seal-agent", Binary: agent, Links: []string{"/seal-agent"}}}},
		{demoAppImage, "demoapp", app, nil, nil},
	} {
		img, err := ociimage.ImageFromFile(ociimage.Spec{Name: im.name, Links: im.links, Version: "demo", Platform: platform, Companions: im.companions}, im.bin)
		if err != nil {
			return "", err
		}
		tarball := filepath.Join(dir, im.name+".tar")
		if err := ociimage.WriteTarball(tarball, im.ref, img); err != nil {
			return "", err
		}
		d.sh("ctr", "-n", "k8s.io", "images", "import", "--all-platforms", im.name+".tar", "#", im.ref)
		if err := node.Import(ctx, tarball); err != nil {
			return "", err
		}
	}
	return demoAppImage, nil
}
