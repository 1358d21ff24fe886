// Package sealimage seals container images in CI/CD without a container engine: it appends an
// Egg as a layer (a file of mode 0400 owned by the image's user), optionally encrypts the
// image's other layers (OCI "+encrypted" media types, ocicrypt), pushes the result by digest
// and signs that digest with a cosign key in both formats Seal's verify package accepts (the
// legacy "sha256-<hex>.sig" tag and a sigstore bundle stored as an OCI referrer).
//
// Multi-platform indexes are sealed per platform: every platform image gets the Egg layer and
// the index is rebuilt over the sealed images. Everything is go-containerregistry.
package sealimage
