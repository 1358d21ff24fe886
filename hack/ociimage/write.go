package ociimage

import (
	"context"
	"fmt"

	"github.com/seal-dev/seal/internal/atomicfile"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Index makes an OCI image index of imgs, one entry per image with the platform of its
// config.
func Index(imgs ...v1.Image) (v1.ImageIndex, error) {
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, img := range imgs {
		cf, err := img.ConfigFile()
		if err != nil {
			return nil, fmt.Errorf("ociimage: index: %w", err)
		}
		p := cf.Platform()
		if p == nil {
			return nil, fmt.Errorf("%w: index: image without os/architecture", ErrSpec)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: p},
		})
	}
	return idx, nil
}

// WriteTarball writes img as a docker-compatible tarball tagged ref (what `docker load` and
// `ctr images import` read). The file appears whole or not at all.
func WriteTarball(file, ref string, img v1.Image) error {
	tag, err := name.NewTag(ref)
	if err != nil {
		return fmt.Errorf("ociimage: tag %q: %w", ref, err)
	}
	out, err := atomicfile.Create(file, 0o644)
	if err != nil {
		return fmt.Errorf("ociimage: %w", err)
	}
	defer out.Cleanup()
	if err := tarball.Write(tag, img, out); err != nil {
		return fmt.Errorf("ociimage: writing %s: %w", file, err)
	}
	if err := out.Commit(); err != nil {
		return fmt.Errorf("ociimage: %w", err)
	}
	return nil
}

// Push uploads idx to ref (a tag or repository in any registry) and returns the pushed
// digest reference (repo@sha256:...).
func Push(ctx context.Context, ref string, idx v1.ImageIndex, opts ...remote.Option) (string, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return "", fmt.Errorf("ociimage: reference %q: %w", ref, err)
	}
	opts = append([]remote.Option{remote.WithContext(ctx)}, opts...)
	if err := remote.WriteIndex(r, idx, opts...); err != nil {
		return "", fmt.Errorf("ociimage: pushing %s: %w", ref, err)
	}
	d, err := idx.Digest()
	if err != nil {
		return "", fmt.Errorf("ociimage: %w", err)
	}
	return r.Context().Digest(d.String()).String(), nil
}
