// Command images builds Seal's container images without a container engine.
//
//	go run ./hack/images -registry REGISTRY [-tag TAG] [-sign-key cosign.key]
//	                                                       build seal-rot, seal-webhook, seal-init
//	                                                       for linux/amd64+arm64, push them, and sign
//	                                                       each with its SPDX SBOM attested
//	go run ./hack/images -binary FILE -name NAME -path /pause -ref REF -out FILE.tar [-root]
//	                                                       one static binary as a docker tarball
//	                                                       for `ctr images import` (the node's pause image)
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/seal-dev/seal/hack/ociimage"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "images:", err)
		os.Exit(1)
	}
}

func run() error {
	registry := flag.String("registry", "", "push seal-rot, seal-webhook and seal-init to REGISTRY/NAME:TAG")
	tag := flag.String("tag", "dev", "image tag (and org.opencontainers.image.version)")
	source := flag.String("source", "https://github.com/seal-dev/seal", "org.opencontainers.image.source label")
	binary := flag.String("binary", "", "package this one static binary instead")
	nm := flag.String("name", "", "with -binary: image title and binary name")
	path := flag.String("path", "", "with -binary: path in the image (default /usr/local/bin/NAME)")
	ref := flag.String("ref", "", "with -binary: tag written into the tarball")
	out := flag.String("out", "", "with -binary: tarball to write")
	root := flag.Bool("root", false, "with -binary: run as root instead of 65532")
	signKey := flag.String("sign-key", "", "cosign private key (password in $COSIGN_PASSWORD): sign every pushed image and attach its SPDX SBOM as a signed attestation")
	dryRun := flag.Bool("dry-run", false, "print the references -registry and -tag would push, build nothing")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if *binary != "" {
		if *nm == "" || *ref == "" || *out == "" {
			return fmt.Errorf("-binary needs -name, -ref and -out")
		}
		img, err := ociimage.ImageFromFile(ociimage.Spec{Name: *nm, Path: *path, Root: *root, Source: *source, Version: *tag}, *binary)
		if err != nil {
			return err
		}
		if err := ociimage.WriteTarball(*out, *ref, img); err != nil {
			return err
		}
		slog.Info("wrote image tarball", "ref", *ref, "file", *out)
		return nil
	}
	if *registry == "" {
		return fmt.Errorf("-registry is required (make images REGISTRY=registry.example.com/seal)")
	}
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	rel := ociimage.Release{
		ModuleDir: wd, Registry: *registry, Tag: *tag, Source: *source,
		Remote: []remote.Option{remote.WithAuthFromKeychain(authn.DefaultKeychain)},
	}
	if *signKey != "" && !*dryRun {
		if rel.Signer, err = ociimage.LoadSigner(*signKey); err != nil {
			return err
		}
	}
	if *dryRun {
		refs, err := rel.Refs()
		if err != nil {
			return err
		}
		for _, r := range sortedValues(refs) {
			fmt.Println(r)
		}
		return nil
	}
	pushed, err := rel.Push(ctx)
	if err != nil {
		return err
	}
	for _, r := range sortedValues(pushed) {
		fmt.Println(r)
	}
	return nil
}

// sortedValues returns m's values ordered by key.
func sortedValues(m map[string]string) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	vals := make([]string, 0, len(names))
	for _, n := range names {
		vals = append(vals, m[n])
	}
	return vals
}
