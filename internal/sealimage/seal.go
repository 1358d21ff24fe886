package sealimage

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// DefaultEggPath is where the Egg is written in the image (seal.dev/egg: image:/etc/seal/egg).
const DefaultEggPath = "/etc/seal/egg"

// ErrUser is returned when the image's user cannot be turned into a numeric owner.
var ErrUser = errors.New("sealimage: image user is not numeric")

// Options say what to seal into an image.
type Options struct {
	// Egg is the Egg text written (with a trailing newline) at EggPath.
	Egg string
	// EggPath is an absolute path in the image; DefaultEggPath when empty.
	EggPath string
	// Owner is "UID[:GID]" for the Egg file; empty means the image config's User (numeric).
	Owner string
	// Encrypt, when set, encrypts every layer but the Egg's (see Encrypter).
	Encrypt Encrypter
	// Remote are go-containerregistry options (auth, transport, context).
	Remote []remote.Option
	// Now stamps the layer's history entry; time.Now when nil.
	Now func() time.Time
}

// Encrypter turns an image's layers into encrypted ones (LayerEncrypter).
type Encrypter interface {
	EncryptImage(ctx context.Context, img v1.Image) (v1.Image, error)
}

// Result is what was pushed.
type Result struct {
	// Digest is DST's repository at the pushed manifest (or index) digest.
	Digest name.Digest
	// Platforms lists the sealed platforms of an index ("linux/amd64"); empty for an image.
	Platforms []string
}

// Seal reads src, seals it, and pushes the result to dst: by digest only when dst has no tag,
// else under the tag too.
func Seal(ctx context.Context, src, dst string, o Options) (*Result, error) {
	if o.Egg == "" {
		return nil, errors.New("sealimage: no Egg to seal")
	}
	if o.EggPath == "" {
		o.EggPath = DefaultEggPath
	}
	if !path.IsAbs(o.EggPath) || path.Clean(o.EggPath) != o.EggPath || o.EggPath == "/" {
		return nil, fmt.Errorf("sealimage: --egg-path %q is not a clean absolute file path", o.EggPath)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	srcRef, err := name.ParseReference(src)
	if err != nil {
		return nil, fmt.Errorf("sealimage: source %q: %w", src, err)
	}
	dstRepo, dstTag, err := parseDst(dst)
	if err != nil {
		return nil, err
	}
	ropts := append([]remote.Option{remote.WithContext(ctx)}, o.Remote...)
	desc, err := remote.Get(srcRef, ropts...)
	if err != nil {
		return nil, fmt.Errorf("sealimage: reading %s: %w", src, err)
	}
	var (
		out  remote.Taggable
		res  = &Result{}
		hash v1.Hash
	)
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return nil, fmt.Errorf("sealimage: reading index %s: %w", src, err)
		}
		sealed, plats, err := sealIndex(ctx, idx, o)
		if err != nil {
			return nil, err
		}
		res.Platforms = plats
		if hash, err = sealed.Digest(); err != nil {
			return nil, err
		}
		out = sealed
		err = remote.WriteIndex(dstRepo.Digest(hash.String()), sealed, ropts...)
		if err != nil {
			return nil, fmt.Errorf("sealimage: pushing %s: %w", dstRepo, err)
		}
	} else {
		img, err := desc.Image()
		if err != nil {
			return nil, fmt.Errorf("sealimage: reading image %s: %w", src, err)
		}
		sealed, err := sealImage(ctx, img, o)
		if err != nil {
			return nil, err
		}
		if hash, err = sealed.Digest(); err != nil {
			return nil, err
		}
		out = sealed
		if err := remote.Write(dstRepo.Digest(hash.String()), sealed, ropts...); err != nil {
			return nil, fmt.Errorf("sealimage: pushing %s: %w", dstRepo, err)
		}
	}
	if dstTag != "" {
		if err := remote.Tag(dstRepo.Tag(dstTag), out, ropts...); err != nil {
			return nil, fmt.Errorf("sealimage: tagging %s:%s: %w", dstRepo, dstTag, err)
		}
	}
	res.Digest = dstRepo.Digest(hash.String())
	return res, nil
}

// parseDst splits DST into a repository and an optional tag; a digest is refused (the digest
// is what sealing computes).
func parseDst(dst string) (name.Repository, string, error) {
	if strings.Contains(dst, "@") {
		return name.Repository{}, "", fmt.Errorf("sealimage: destination %q has a digest; give a repository (pushed by digest) or repository:tag", dst)
	}
	if t, err := name.NewTag(dst); err == nil && hasExplicitTag(dst) {
		return t.Context(), t.TagStr(), nil
	}
	r, err := name.NewRepository(dst)
	if err != nil {
		return name.Repository{}, "", fmt.Errorf("sealimage: destination %q: %w", dst, err)
	}
	return r, "", nil
}

func hasExplicitTag(ref string) bool {
	i := strings.LastIndex(ref, ":")
	return i > strings.LastIndex(ref, "/")
}

// sealIndex seals every platform image of idx (attestation manifests of BuildKit, platform
// unknown/unknown, are dropped: they describe the unsealed images).
func sealIndex(ctx context.Context, idx v1.ImageIndex, o Options) (v1.ImageIndex, []string, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, nil, fmt.Errorf("sealimage: reading index: %w", err)
	}
	mt, err := idx.MediaType()
	if err != nil {
		return nil, nil, err
	}
	var out v1.ImageIndex = mutate.IndexMediaType(empty.Index, mt)
	var plats []string
	for _, d := range im.Manifests {
		if d.Platform != nil && d.Platform.OS == "unknown" {
			continue
		}
		if !d.MediaType.IsImage() {
			return nil, nil, fmt.Errorf("sealimage: the index holds %s %s: only images can be sealed", d.MediaType, d.Digest)
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			return nil, nil, fmt.Errorf("sealimage: reading %s: %w", d.Digest, err)
		}
		sealed, err := sealImage(ctx, img, o)
		if err != nil {
			return nil, nil, fmt.Errorf("%w (platform %s)", err, platform(d.Platform))
		}
		out = mutate.AppendManifests(out, mutate.IndexAddendum{Add: sealed, Descriptor: v1.Descriptor{
			Platform: d.Platform, Annotations: d.Annotations,
		}})
		plats = append(plats, platform(d.Platform))
	}
	if len(plats) == 0 {
		return nil, nil, errors.New("sealimage: the index holds no platform image")
	}
	return out, plats, nil
}

func platform(p *v1.Platform) string {
	if p == nil {
		return "unknown"
	}
	return p.String()
}

// sealImage appends the Egg layer (and encrypts the other layers when asked).
func sealImage(ctx context.Context, img v1.Image, o Options) (v1.Image, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("sealimage: reading the image config: %w", err)
	}
	owner := o.Owner
	if owner == "" {
		owner = cf.Config.User
	}
	uid, gid, err := parseOwner(owner)
	if err != nil {
		return nil, err
	}
	mt, err := img.MediaType()
	if err != nil {
		return nil, err
	}
	lmt := types.OCILayer
	if mt == types.DockerManifestSchema2 {
		lmt = types.DockerLayer
	}
	tb, err := eggTar(o.EggPath, []byte(o.Egg+"\n"), uid, gid)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(tb)), nil
	}, tarball.WithMediaType(lmt))
	if err != nil {
		return nil, fmt.Errorf("sealimage: building the Egg layer: %w", err)
	}
	if o.Encrypt != nil {
		// The image's layers only: the Egg layer is added below in clear (the Egg is also in
		// every encrypted layer's annotation, which the node needs to ask for the key).
		if img, err = o.Encrypt.EncryptImage(ctx, img); err != nil {
			return nil, err
		}
	}
	return mutate.Append(img, mutate.Addendum{Layer: layer, MediaType: lmt, History: v1.History{
		Created:   v1.Time{Time: o.Now().UTC().Truncate(time.Second)},
		CreatedBy: "sealctl image seal: Egg at " + o.EggPath,
		Comment:   "seal.dev Egg",
	}})
}

// parseOwner reads "UID[:GID]" (the image's USER); "" and "root" are 0:0. A name needs
// --owner: the image's /etc/passwd is not consulted.
func parseOwner(u string) (uid, gid int, err error) {
	if u == "" || u == "root" || u == "root:root" {
		return 0, 0, nil
	}
	us, gs, hasG := strings.Cut(u, ":")
	if uid, err = strconv.Atoi(us); err != nil || uid < 0 {
		return 0, 0, fmt.Errorf("%w: %q (the Egg file must be owned by a numeric uid: set USER 65532:65532 in the image, or pass --owner UID:GID)", ErrUser, u)
	}
	if hasG { // USER 1000 alone runs with group 0, as the runtime does without /etc/passwd
		if gid, err = strconv.Atoi(gs); err != nil || gid < 0 {
			return 0, 0, fmt.Errorf("%w: group of %q (pass --owner UID:GID)", ErrUser, u)
		}
	}
	return uid, gid, nil
}

// eggTar is a tar of one regular file, mode 0400, at p (no directory entries: the runtime
// creates missing parents, and existing ones keep their modes).
func eggTar(p string, content []byte, uid, gid int) ([]byte, error) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	if err := tw.WriteHeader(&tar.Header{
		Typeflag: tar.TypeReg, Name: strings.TrimPrefix(p, "/"), Mode: 0o400, Size: int64(len(content)),
		Uid: uid, Gid: gid, Format: tar.FormatPAX,
	}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(content); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
