package ociimage

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore/pkg/signature"
)

// Program is one of the project's binaries packaged as an image.
type Program struct {
	// Name is the image and binary name (seal-init).
	Name string
	// Pkg is the main package relative to the module root (./cmd/init).
	Pkg string
	// LDFlags are extra linker flags.
	LDFlags string
	// Links are more paths to the binary in the image (see Spec.Links).
	Links []string
	// Companions are more programs built into the same image (see Spec.Companions); their
	// Name is the file name under /usr/local/bin.
	Companions []Program
}

// Programs are the images `make images` publishes.
var Programs = []Program{
	{Name: "seal-rot", Pkg: "./cmd/rot"},
	{Name: "seal-webhook", Pkg: "./cmd/webhook"},
	// The webhook runs seal-init as /seal-init by default (inject.Config.Binary).
	// seal-agent (the sidecar with the SPIFFE Workload API) ships beside it as /seal-agent
	// (inject.Config.AgentBinary).
	{Name: "seal-init", Pkg: "./cmd/init", LDFlags: "-s -w", Links: []string{"/seal-init"},
		Companions: []Program{{Name: "seal-agent", Pkg: "./cmd/agent", LDFlags: "-s -w", Links: []string{"/seal-agent"}}}},
}

// VersionVar is the variable the release version is linked into (internal/version), so every
// image's binary reports the tag it was pushed under (--version, seal.dev/status).
const VersionVar = "github.com/seal-dev/seal/internal/version.Version"

// Platforms are the platforms every published image is built for.
var Platforms = []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}}

// Release builds Programs for Platforms and pushes them to Registry.
type Release struct {
	// ModuleDir is the module root the packages are built in.
	ModuleDir string
	// Registry is the repository prefix (registry.example.com/seal); images go to
	// Registry/NAME:Tag.
	Registry, Tag string
	// Source and Version become OCI labels (Version defaults to Tag).
	Source, Version string
	// Programs and Platforms default to the package variables.
	Programs  []Program
	Platforms []v1.Platform
	// Remote are options for the registry client (auth, transport).
	Remote []remote.Option
	// Signer, when set, signs every pushed index as `cosign sign --key` does and attaches a
	// signed SPDX SBOM of the program as `cosign attest --type spdxjson` does (see Sign).
	Signer signature.SignerVerifier
}

// Build compiles every program for every platform and returns one index per program name.
func (r Release) Build(ctx context.Context) (map[string]v1.ImageIndex, error) {
	idxs, _, err := r.build(ctx)
	return idxs, err
}

// build is Build that also returns each program's SPDX SBOM (from its first platform's binary:
// the module list is the same for every platform).
func (r Release) build(ctx context.Context) (map[string]v1.ImageIndex, map[string][]byte, error) {
	progs, plats := r.Programs, r.Platforms
	if progs == nil {
		progs = Programs
	}
	if plats == nil {
		plats = Platforms
	}
	version := r.Version
	if version == "" {
		version = r.Tag
	}
	work, err := os.MkdirTemp("", "seal-images-")
	if err != nil {
		return nil, nil, fmt.Errorf("ociimage: %w", err)
	}
	defer os.RemoveAll(work)
	out, sboms := map[string]v1.ImageIndex{}, map[string][]byte{}
	for _, p := range progs {
		var imgs []v1.Image
		for _, pl := range plats {
			bin := filepath.Join(work, p.Name+"-"+pl.Architecture)
			ldflags := strings.TrimSpace(p.LDFlags + " -X " + VersionVar + "=" + version)
			if err := GoBuild(ctx, r.ModuleDir, p.Pkg, pl.Architecture, bin, ldflags); err != nil {
				return nil, nil, err
			}
			spec := Spec{Name: p.Name, Links: p.Links, Platform: pl, Source: r.Source, Version: version}
			for _, c := range p.Companions {
				cbin := filepath.Join(work, c.Name+"-"+pl.Architecture)
				if err := GoBuild(ctx, r.ModuleDir, c.Pkg, pl.Architecture, cbin, strings.TrimSpace(c.LDFlags+" -X "+VersionVar+"="+version)); err != nil {
					return nil, nil, err
				}
				b, err := os.ReadFile(cbin)
				if err != nil {
					return nil, nil, fmt.Errorf("ociimage: %w", err)
				}
				spec.Companions = append(spec.Companions, Companion{Path: "/usr/local/bin/" + c.Name, Binary: b, Links: c.Links})
			}
			if _, ok := sboms[p.Name]; !ok {
				doc, err := SBOM(bin, p.Name, version, time.Now())
				if err != nil {
					return nil, nil, err
				}
				sboms[p.Name] = doc
			}
			img, err := ImageFromFile(spec, bin)
			if err != nil {
				return nil, nil, err
			}
			imgs = append(imgs, img)
		}
		idx, err := Index(imgs...)
		if err != nil {
			return nil, nil, err
		}
		out[p.Name] = idx
	}
	return out, sboms, nil
}

// bareSemver is a version without the v the project tags with (0.1.0, 1.2.3-rc.1).
var bareSemver = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+([-+].*)?$`)

// Refs returns name → the reference Push tags each image with: Registry/NAME:Tag. The chart's
// default image references (appVersion as the tag) are these for Tag = appVersion.
func (r Release) Refs() (map[string]string, error) {
	if r.Registry == "" || r.Tag == "" {
		return nil, fmt.Errorf("%w: registry and tag are required", ErrSpec)
	}
	if bareSemver.MatchString(r.Tag) {
		return nil, fmt.Errorf("%w: tag %q: release tags are v-prefixed (v%s), as the chart's appVersion", ErrSpec, r.Tag, r.Tag)
	}
	progs := r.Programs
	if progs == nil {
		progs = Programs
	}
	refs := map[string]string{}
	for _, p := range progs {
		refs[p.Name] = r.Registry + "/" + p.Name + ":" + r.Tag
	}
	return refs, nil
}

// Push builds and pushes every image (signed, with its SBOM, when Signer is set) and returns
// name → pushed digest reference.
func (r Release) Push(ctx context.Context) (map[string]string, error) {
	refs, err := r.Refs()
	if err != nil {
		return nil, err
	}
	idxs, sboms, err := r.build(ctx)
	if err != nil {
		return nil, err
	}
	pushed := map[string]string{}
	for n, idx := range idxs {
		d, err := Push(ctx, refs[n], idx, r.Remote...)
		if err != nil {
			return nil, err
		}
		pushed[n] = d
		if r.Signer == nil {
			continue
		}
		dig, err := name.NewDigest(d)
		if err != nil {
			return nil, fmt.Errorf("ociimage: %w", err)
		}
		if err := Sign(ctx, dig, r.Signer, sboms[n], r.Remote...); err != nil {
			return nil, err
		}
	}
	return pushed, nil
}
