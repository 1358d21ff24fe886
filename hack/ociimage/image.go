package ociimage

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// NonRoot is the user and group images run as unless Spec.User says otherwise (distroless's
// "nonroot").
const NonRoot = 65532

// OCI annotation keys set as image labels.
const (
	LabelSource  = "org.opencontainers.image.source"
	LabelVersion = "org.opencontainers.image.version"
	LabelTitle   = "org.opencontainers.image.title"
)

// ErrSpec is returned for an incomplete or invalid Spec.
var ErrSpec = errors.New("ociimage: invalid spec")

// epoch is the fixed creation time and file time, so the same binary gives the same digest.
var epoch = time.Unix(0, 0).UTC()

// Spec describes an image of one binary.
type Spec struct {
	// Name is the program's name: the image title and, by default, /usr/local/bin/NAME.
	Name string
	// Binary is the executable's content (a static binary for Platform).
	Binary []byte
	// Path is where the binary goes in the image (default /usr/local/bin/NAME).
	Path string
	// Links are more absolute paths in the image that are symbolic links to the binary.
	Links []string
	// Args are extra entrypoint arguments after the binary.
	Args []string
	// UID is the owner of the binary and the user the image runs as (default NonRoot). Use
	// Root to run as root.
	UID int
	// Root runs the image as user 0 (UID is ignored).
	Root bool
	// Platform is the OS and architecture of Binary (default linux/amd64).
	Platform v1.Platform
	// Source and Version become the org.opencontainers.image.source/version labels.
	Source, Version string
	// Labels are more labels.
	Labels map[string]string
	// Companions are more binaries in the image, each in its own layer (seal-agent beside
	// seal-init), owned by UID like the main one.
	Companions []Companion
}

// Companion is another binary of an image: its absolute path, content and links.
type Companion struct {
	Path   string
	Binary []byte
	Links  []string
}

func (s *Spec) normalize() error {
	if s.Name == "" || strings.ContainsAny(s.Name, "/ \t\n") {
		return fmt.Errorf("%w: name %q must be a plain file name", ErrSpec, s.Name)
	}
	if len(s.Binary) == 0 {
		return fmt.Errorf("%w: %s: empty binary", ErrSpec, s.Name)
	}
	if s.Path == "" {
		s.Path = "/usr/local/bin/" + s.Name
	}
	if !path.IsAbs(s.Path) || path.Clean(s.Path) != s.Path {
		return fmt.Errorf("%w: %s: path %q must be absolute and clean", ErrSpec, s.Name, s.Path)
	}
	for _, l := range s.Links {
		if !path.IsAbs(l) || path.Clean(l) != l || l == s.Path {
			return fmt.Errorf("%w: %s: link %q must be absolute, clean and not the binary's path", ErrSpec, s.Name, l)
		}
	}
	for _, c := range s.Companions {
		if !path.IsAbs(c.Path) || path.Clean(c.Path) != c.Path || c.Path == s.Path || len(c.Binary) == 0 {
			return fmt.Errorf("%w: %s: companion %q must be a non-empty binary at an absolute, clean path of its own", ErrSpec, s.Name, c.Path)
		}
	}
	if s.Root {
		s.UID = 0
	} else if s.UID == 0 {
		s.UID = NonRoot
	}
	if s.Platform.OS == "" {
		s.Platform.OS = "linux"
	}
	if s.Platform.Architecture == "" {
		s.Platform.Architecture = "amd64"
	}
	return nil
}

// Image builds the single-platform image described by s.
func Image(s Spec) (v1.Image, error) {
	if err := s.normalize(); err != nil {
		return nil, err
	}
	layerTar, err := binaryLayer(s.Path, s.Binary, s.UID, s.Links)
	if err != nil {
		return nil, err
	}
	layer, err := tarLayer(layerTar)
	if err != nil {
		return nil, fmt.Errorf("ociimage: %s layer: %w", s.Name, err)
	}
	layers := []v1.Layer{layer}
	for _, c := range s.Companions {
		t, err := binaryLayer(c.Path, c.Binary, s.UID, c.Links)
		if err != nil {
			return nil, err
		}
		l, err := tarLayer(t)
		if err != nil {
			return nil, fmt.Errorf("ociimage: %s layer of %s: %w", s.Name, c.Path, err)
		}
		layers = append(layers, l)
	}
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	img, err := mutate.AppendLayers(base, layers...)
	if err != nil {
		return nil, fmt.Errorf("ociimage: %s: %w", s.Name, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("ociimage: %s: %w", s.Name, err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = s.Platform.OS, s.Platform.Architecture, s.Platform.Variant
	cf.Created = v1.Time{Time: epoch}
	labels := map[string]string{LabelTitle: s.Name}
	if s.Source != "" {
		labels[LabelSource] = s.Source
	}
	if s.Version != "" {
		labels[LabelVersion] = s.Version
	}
	for k, v := range s.Labels {
		labels[k] = v
	}
	cf.Config = v1.Config{
		Entrypoint: append([]string{s.Path}, s.Args...),
		User:       fmt.Sprintf("%d:%d", s.UID, s.UID),
		WorkingDir: "/",
		Env:        []string{"PATH=/usr/local/bin:/usr/bin:/bin"},
		Labels:     labels,
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("ociimage: %s config: %w", s.Name, err)
	}
	return img, nil
}

// binaryLayer is an uncompressed tar holding the parent directories of p and of links, the
// binary at p (mode 0755, owned by uid) and links, symbolic links to p.
func binaryLayer(p string, bin []byte, uid int, links []string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	var dirs []string
	seen := map[string]bool{}
	for _, f := range append([]string{p}, links...) {
		var chain []string
		for d := path.Dir(f); d != "/" && !seen[d]; d = path.Dir(d) {
			seen[d] = true
			chain = append([]string{d}, chain...)
		}
		dirs = append(dirs, chain...)
	}
	for _, d := range dirs {
		if err := tw.WriteHeader(&tar.Header{
			Typeflag: tar.TypeDir, Name: strings.TrimPrefix(d, "/") + "/", Mode: 0o755, ModTime: epoch,
			Format: tar.FormatPAX,
		}); err != nil {
			return nil, fmt.Errorf("ociimage: layer: %w", err)
		}
	}
	if err := tw.WriteHeader(&tar.Header{
		Typeflag: tar.TypeReg, Name: strings.TrimPrefix(p, "/"), Mode: 0o755, Size: int64(len(bin)),
		Uid: uid, Gid: uid, ModTime: epoch, Format: tar.FormatPAX,
	}); err != nil {
		return nil, fmt.Errorf("ociimage: layer: %w", err)
	}
	if _, err := tw.Write(bin); err != nil {
		return nil, fmt.Errorf("ociimage: layer: %w", err)
	}
	for _, l := range links {
		if err := tw.WriteHeader(&tar.Header{
			Typeflag: tar.TypeSymlink, Name: strings.TrimPrefix(l, "/"), Linkname: p, Mode: 0o777,
			ModTime: epoch, Format: tar.FormatPAX,
		}); err != nil {
			return nil, fmt.Errorf("ociimage: layer: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("ociimage: layer: %w", err)
	}
	return buf.Bytes(), nil
}

func tarLayer(t []byte) (v1.Layer, error) {
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(t)), nil
	}, tarball.WithMediaType(types.OCILayer))
}

// ImageFromFile is Image with the binary read from a file.
func ImageFromFile(s Spec, file string) (v1.Image, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("ociimage: %w", err)
	}
	s.Binary = b
	return Image(s)
}
