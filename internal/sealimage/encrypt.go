package sealimage

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/containers/ocicrypt"
	"github.com/containers/ocicrypt/config"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/seal-dev/seal/internal/keyprovider"
)

// LayerEncrypter encrypts layers with ocicrypt (AES-256-CTR with HMAC-SHA256 per layer, a
// fresh symmetric key each) and wraps each layer's key under the image key for the provider
// "seal" (keyprovider.Wrap): the layer descriptors get the "+encrypted" media type and the
// org.opencontainers.image.enc.* annotations imgcrypt reads.
type LayerEncrypter struct {
	id, egg string
	key     []byte
}

// NewEncrypter returns an Encrypter under the image key id/key; the Egg is written into every
// layer's annotation (the node asks the ROT for the key with it).
func NewEncrypter(id string, key []byte, egg string) (*LayerEncrypter, error) {
	if !keyprovider.ValidID(id) || len(key) != 32 || egg == "" {
		return nil, fmt.Errorf("sealimage: an image key needs a 32-hex-digit id, 32 bytes and an Egg")
	}
	register()
	return &LayerEncrypter{id: id, key: key, egg: egg}, nil
}

// EncryptImage returns img with every layer encrypted; the config (and its diff_ids, the
// digests of the plain layers) is unchanged, as imgcrypt does it.
func (e *LayerEncrypter) EncryptImage(ctx context.Context, img v1.Image) (v1.Image, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	mt, err := img.MediaType()
	if err != nil {
		return nil, err
	}
	ls, err := img.Layers()
	if err != nil {
		return nil, err
	}
	out := mutate.MediaType(empty.Image, mt)
	if mt == types.DockerManifestSchema2 {
		out = mutate.ConfigMediaType(out, types.DockerConfigJSON)
	}
	ec := encryptConfig(e.key, e.id, e.egg)
	for i, l := range ls {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		el, ann, err := encryptLayer(ec, l)
		if err != nil {
			return nil, fmt.Errorf("sealimage: encrypting layer %d: %w", i, err)
		}
		if out, err = mutate.Append(out, mutate.Addendum{Layer: el, MediaType: el.mt, Annotations: ann}); err != nil {
			return nil, err
		}
	}
	return mutate.ConfigFile(out, cf)
}

// encLayer is an encrypted layer held in memory.
type encLayer struct {
	data           []byte
	digest, diffID v1.Hash
	mt             types.MediaType
}

func (l *encLayer) Digest() (v1.Hash, error)            { return l.digest, nil }
func (l *encLayer) DiffID() (v1.Hash, error)            { return l.diffID, nil }
func (l *encLayer) Size() (int64, error)                { return int64(len(l.data)), nil }
func (l *encLayer) MediaType() (types.MediaType, error) { return l.mt, nil }
func (l *encLayer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.data)), nil
}
func (l *encLayer) Uncompressed() (io.ReadCloser, error) {
	return nil, fmt.Errorf("sealimage: layer %s is encrypted", l.digest)
}

func encryptLayer(cfg *config.EncryptConfig, l v1.Layer) (*encLayer, map[string]string, error) {
	mt, err := l.MediaType()
	if err != nil {
		return nil, nil, err
	}
	if !mt.IsLayer() {
		return nil, nil, fmt.Errorf("media type %s is not a layer", mt)
	}
	d, err := l.Digest()
	if err != nil {
		return nil, nil, err
	}
	diffID, err := l.DiffID()
	if err != nil {
		return nil, nil, err
	}
	size, err := l.Size()
	if err != nil {
		return nil, nil, err
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, nil, err
	}
	defer rc.Close()
	desc := ocispec.Descriptor{MediaType: string(mt), Digest: digest.Digest(d.String()), Size: size}
	r, fin, err := ocicrypt.EncryptLayer(cfg, rc, desc)
	if err != nil {
		return nil, nil, err
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, nil, err
	}
	ann, err := fin()
	if err != nil {
		return nil, nil, err
	}
	h, _, err := v1.SHA256(bytes.NewReader(data))
	if err != nil {
		return nil, nil, err
	}
	return &encLayer{data: data, digest: h, diffID: diffID, mt: types.MediaType(string(mt) + "+encrypted")}, ann, nil
}
