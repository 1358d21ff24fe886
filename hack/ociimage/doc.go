// Package ociimage builds Seal's container images without a container engine: one static
// binary as a single layer on an empty base, non-root, with OCI labels, for one or more
// platforms. Images are written as docker-compatible tarballs (for `ctr images import`) or
// pushed to any registry as a multi-platform index, with go-containerregistry.
package ociimage
