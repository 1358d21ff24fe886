package sealimage

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/containers/ocicrypt"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/seal-dev/seal/internal/keyprovider"
)

func newKey(t *testing.T) (string, []byte) {
	t.Helper()
	b := make([]byte, 48)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:16]), b[16:]
}

// decrypt opens an encrypted layer of img with ocicrypt (as imgcrypt does) given the key.
func decrypt(t *testing.T, l v1.Layer, desc v1.Descriptor, key []byte) ([]byte, error) {
	t.Helper()
	rc, err := l.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	od := ocispec.Descriptor{MediaType: string(desc.MediaType), Digest: digest.Digest(desc.Digest.String()), Size: desc.Size, Annotations: desc.Annotations}
	r, _, err := ocicrypt.DecryptLayer(decryptConfig(key), rc, od, false)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func TestEncryptImage(t *testing.T) {
	img, err := random.Image(4096, 3)
	if err != nil {
		t.Fatal(err)
	}
	id, key := newKey(t)
	e, err := NewEncrypter(id, key, "seal1.egg")
	if err != nil {
		t.Fatal(err)
	}
	enc, err := e.EncryptImage(t.Context(), img)
	if err != nil {
		t.Fatal(err)
	}
	plainCF, _ := img.ConfigFile()
	encCF, _ := enc.ConfigFile()
	if len(encCF.RootFS.DiffIDs) != 3 || encCF.RootFS.DiffIDs[2] != plainCF.RootFS.DiffIDs[2] {
		t.Errorf("diff_ids %v, want the plain layers' %v (imgcrypt keeps the config)", encCF.RootFS.DiffIDs, plainCF.RootFS.DiffIDs)
	}
	m, _ := enc.Manifest()
	plain, _ := img.Layers()
	encLayers, _ := enc.Layers()
	_, otherKey := newKey(t)
	for i, d := range m.Layers {
		if !strings.HasSuffix(string(d.MediaType), "+encrypted") {
			t.Errorf("layer %d media type %s, want +encrypted", i, d.MediaType)
		}
		raw, _ := base64.StdEncoding.DecodeString(d.Annotations[keyprovider.AnnotationID])
		a, err := keyprovider.ParseAnnotation(raw)
		if err != nil || a.ImageKey != id || a.Egg != "seal1.egg" {
			t.Fatalf("layer %d annotation %s: %+v, %v", i, keyprovider.AnnotationID, a, err)
		}
		// Unreadable without the key: not gzip, and the plain bytes appear nowhere.
		rc, _ := encLayers[i].Compressed()
		blob, _ := io.ReadAll(rc)
		if _, err := gzip.NewReader(bytes.NewReader(blob)); err == nil {
			t.Errorf("layer %d is still a gzip stream", i)
		}
		prc, _ := plain[i].Uncompressed()
		pb, _ := io.ReadAll(prc)
		if bytes.Contains(blob, pb[512:1024]) {
			t.Errorf("layer %d: the encrypted blob contains the plain content", i)
		}
		if _, err := decrypt(t, encLayers[i], d, otherKey); err == nil || !strings.Contains(err.Error(), "does not open") {
			t.Errorf("layer %d opened with another key: %v", i, err)
		}
		got, err := decrypt(t, encLayers[i], d, key)
		if err != nil {
			t.Fatalf("layer %d with the key: %v", i, err)
		}
		want, _ := plain[i].Digest()
		if h, _, _ := v1.SHA256(bytes.NewReader(got)); h != want {
			t.Errorf("layer %d decrypts to %s, want the plain layer %s", i, h, want)
		}
	}
}

func TestNewEncrypterRefuses(t *testing.T) {
	id, key := newKey(t)
	for name, f := range map[string]func() error{
		"short key": func() error { _, err := NewEncrypter(id, key[:16], "e"); return err },
		"bad id":    func() error { _, err := NewEncrypter("../x", key, "e"); return err },
		"no egg":    func() error { _, err := NewEncrypter(id, key, ""); return err },
	} {
		if err := f(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, _, err := parseOwner("app"); !errors.Is(err, ErrUser) {
		t.Errorf("parseOwner(app) = %v, want ErrUser", err)
	}
}
