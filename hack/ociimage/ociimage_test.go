package ociimage

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func TestImageRejectsBadSpecs(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec Spec
	}{
		{"no name", Spec{Binary: []byte("x")}},
		{"name with slash", Spec{Name: "a/b", Binary: []byte("x")}},
		{"empty binary", Spec{Name: "a"}},
		{"relative path", Spec{Name: "a", Binary: []byte("x"), Path: "bin/a"}},
		{"unclean path", Spec{Name: "a", Binary: []byte("x"), Path: "/bin/../a"}},
		{"relative link", Spec{Name: "a", Binary: []byte("x"), Links: []string{"a"}}},
		{"link onto the binary", Spec{Name: "a", Binary: []byte("x"), Links: []string{"/usr/local/bin/a"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Image(tc.spec); !errors.Is(err, ErrSpec) {
				t.Errorf("Image(%+v) error = %v, want ErrSpec", tc.spec, err)
			}
		})
	}
}

// files lists the image's single layer: path → header.
// files are the headers of every file in img's layers, which must number wantLayers (one per
// binary: the main one, then each companion).
func files(t *testing.T, img v1.Image, wantLayers ...int) map[string]*tar.Header {
	t.Helper()
	want := 1
	if len(wantLayers) > 0 {
		want = wantLayers[0]
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != want {
		t.Fatalf("layers = %d (%v), want %d", len(layers), err, want)
	}
	out := map[string]*tar.Header{}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			out[h.Name] = h
		}
		rc.Close()
	}
	return out
}

func TestImageConfigAndLayer(t *testing.T) {
	img, err := Image(Spec{Name: "seal-init", Binary: []byte("\x7fELF..."), Source: "https://example.org/seal", Version: "v1.2.3",
		Platform: v1.Platform{OS: "linux", Architecture: "arm64"}})
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cf.Config.User, "65532:65532"; got != want {
		t.Errorf("user = %q, want %q", got, want)
	}
	if got := strings.Join(cf.Config.Entrypoint, " "); got != "/usr/local/bin/seal-init" {
		t.Errorf("entrypoint = %q, want /usr/local/bin/seal-init", got)
	}
	if cf.OS != "linux" || cf.Architecture != "arm64" {
		t.Errorf("platform = %s/%s, want linux/arm64", cf.OS, cf.Architecture)
	}
	for k, want := range map[string]string{LabelSource: "https://example.org/seal", LabelVersion: "v1.2.3", LabelTitle: "seal-init"} {
		if got := cf.Config.Labels[k]; got != want {
			t.Errorf("label %s = %q, want %q", k, got, want)
		}
	}
	h := files(t, img)["usr/local/bin/seal-init"]
	if h == nil {
		t.Fatalf("layer has no usr/local/bin/seal-init: %v", files(t, img))
	}
	if h.Mode != 0o755 || h.Uid != NonRoot || h.Gid != NonRoot {
		t.Errorf("binary mode %o owner %d:%d, want 755 owned by %d", h.Mode, h.Uid, h.Gid, NonRoot)
	}
	again, _ := Image(Spec{Name: "seal-init", Binary: []byte("\x7fELF..."), Source: "https://example.org/seal", Version: "v1.2.3",
		Platform: v1.Platform{OS: "linux", Architecture: "arm64"}})
	d1, _ := img.Digest()
	d2, _ := again.Digest()
	if d1 != d2 {
		t.Errorf("same input gave digests %s and %s, want reproducible builds", d1, d2)
	}
}

func TestWriteTarballLoads(t *testing.T) {
	img, err := Image(Spec{Name: "pause", Path: "/pause", Root: true, Binary: []byte("bin")})
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "pause.tar")
	if err := WriteTarball(f, "registry.k8s.io/pause:3.6", img); err != nil {
		t.Fatal(err)
	}
	tag, _ := name.NewTag("registry.k8s.io/pause:3.6")
	loaded, err := tarball.ImageFromPath(f, &tag)
	if err != nil {
		t.Fatalf("tarball does not load as registry.k8s.io/pause:3.6: %v", err)
	}
	// A docker tarball carries the same config and layers (the manifest is rewritten).
	want, _ := img.ConfigName()
	if got, _ := loaded.ConfigName(); got != want {
		t.Errorf("loaded config digest %s, want %s", got, want)
	}
	cf, _ := loaded.ConfigFile()
	if cf.Config.User != "0:0" || cf.Config.Entrypoint[0] != "/pause" {
		t.Errorf("pause config user %q entrypoint %v, want 0:0 and /pause", cf.Config.User, cf.Config.Entrypoint)
	}
	if err := WriteTarball(f, "not a tag!", img); err == nil {
		t.Error("WriteTarball with a bad tag succeeded")
	}
}

// TestReleasePushesToRegistry builds the real seal-init for both platforms, pushes it to a
// registry on loopback and reads it back as a client would.
func TestReleasePushesToRegistry(t *testing.T) {
	if testing.Short() {
		t.Skip("builds seal-init twice")
	}
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(reg.Close)
	host := strings.TrimPrefix(reg.URL, "http://")
	root, _ := filepath.Abs("../..")
	ctx := context.Background()
	var initProgram []Program
	for _, p := range Programs {
		if p.Name == "seal-init" {
			initProgram = append(initProgram, p)
		}
	}
	pushed, err := Release{
		ModuleDir: root, Registry: host + "/seal", Tag: "v0.0.1-test", Source: "https://github.com/seal-dev/seal",
		Programs: initProgram,
	}.Push(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(pushed["seal-init"])
	if err != nil {
		t.Fatalf("pushed reference %q: %v", pushed["seal-init"], err)
	}
	idx, err := remote.Index(ref)
	if err != nil {
		t.Fatalf("reading the index back: %v", err)
	}
	tagged, err := remote.Index(ref.Context().Tag("v0.0.1-test"))
	if err != nil {
		t.Fatalf("tag v0.0.1-test: %v", err)
	}
	if a, b := mustDigest(t, idx), mustDigest(t, tagged); a != b {
		t.Errorf("tag points at %s, pushed digest %s", b, a)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range im.Manifests {
		got = append(got, m.Platform.String())
		img, err := idx.Image(m.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cf.Config.User != "65532:65532" || cf.Config.Entrypoint[0] != "/usr/local/bin/seal-init" {
			t.Errorf("%s: user %q entrypoint %v", m.Platform, cf.Config.User, cf.Config.Entrypoint)
		}
		if cf.Config.Labels[LabelVersion] != "v0.0.1-test" || cf.Config.Labels[LabelSource] != "https://github.com/seal-dev/seal" {
			t.Errorf("%s: labels %v", m.Platform, cf.Config.Labels)
		}
		fs := files(t, img, 2) // seal-init, then seal-agent
		for _, prog := range []string{"seal-init", "seal-agent"} {
			bin := fs["usr/local/bin/"+prog]
			if bin == nil || bin.Size < 1<<20 || bin.Uid != 65532 {
				t.Errorf("%s: %s binary missing, tiny or not the image user's: %+v", m.Platform, prog, bin)
			}
			if l := fs[prog]; l == nil || l.Typeflag != tar.TypeSymlink || l.Linkname != "/usr/local/bin/"+prog {
				t.Errorf("%s: /%s (the webhook's default path) is not a link to the binary: %+v", m.Platform, prog, l)
			}
		}
		if a, i := fs["usr/local/bin/seal-agent"], fs["usr/local/bin/seal-init"]; a != nil && i != nil && a.Size <= i.Size {
			t.Errorf("%s: seal-agent (%d bytes) is not larger than seal-init (%d): is it the Workload API build?", m.Platform, a.Size, i.Size)
		}
	}
	if strings.Join(got, ",") != "linux/amd64,linux/arm64" {
		t.Errorf("platforms = %v, want linux/amd64,linux/arm64", got)
	}
}

func mustDigest(t *testing.T, idx interface{ Digest() (v1.Hash, error) }) v1.Hash {
	t.Helper()
	d, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func ExampleImage() {
	bin, _ := os.ReadFile("/path/to/static/seal-init")
	img, err := Image(Spec{Name: "seal-init", Binary: bin, Version: "v0.1.0"})
	if err != nil {
		return
	}
	_ = WriteTarball("seal-init.tar", "ghcr.io/seal-dev/seal-init:v0.1.0", img)
}

func BenchmarkImage(b *testing.B) {
	bin := bytes.Repeat([]byte("seal"), 5<<20/4) // a 5 MiB binary
	b.SetBytes(int64(len(bin)))
	for b.Loop() {
		img, err := Image(Spec{Name: "seal-init", Binary: bin})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := img.Digest(); err != nil {
			b.Fatal(err)
		}
	}
}

func TestReleaseRefs(t *testing.T) {
	tests := []struct {
		name, tag string
		want      string
		wantErr   bool
	}{
		{"v-prefixed, as the chart's appVersion", "v0.1.0", "registry.example.com/seal/seal-init:v0.1.0", false},
		{"pre-release", "v0.2.0-rc.1", "registry.example.com/seal/seal-init:v0.2.0-rc.1", false},
		{"dev", "dev", "registry.example.com/seal/seal-init:dev", false},
		{"bare semver refused", "0.1.0", "", true},
		{"no tag", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			refs, err := Release{Registry: "registry.example.com/seal", Tag: tt.tag}.Refs()
			if (err != nil) != tt.wantErr {
				t.Fatalf("Refs() error = %v, want error %v", err, tt.wantErr)
			}
			if got := refs["seal-init"]; got != tt.want {
				t.Errorf("Refs()[seal-init] = %q, want %q", got, tt.want)
			}
		})
	}
}
