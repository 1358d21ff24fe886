package verify

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// registryOptions are the go-containerregistry options for one image's registry work.
func (v *Verifier) registryOptions(ctx context.Context, kc authn.Keychain) []remote.Option {
	if kc == nil {
		kc = authn.NewMultiKeychain() // anonymous
	}
	return []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(kc), remote.WithTransport(v.opts.Transport)}
}

// Resolve returns the digest an image names, as `repo@sha256:…` with the repository spelled
// in full: its own digest, or its tag's digest from the registry (within the registry timeout).
func (v *Verifier) Resolve(ctx context.Context, image string, kc authn.Keychain) (name.Digest, error) {
	ref, err := ParseReference(image)
	if err != nil {
		return name.Digest{}, err
	}
	r, err := v.resolve(ctx, ref, kc)
	if err != nil {
		return name.Digest{}, err
	}
	return r.nameDigest()
}

// resolved is an image's canonical digest reference, in parts; the tag is dropped and the
// repository spelled in full, so cache and coalescing keys do not depend on how a manifest
// spells the image.
type resolved struct {
	repo   string // index.docker.io/library/nginx
	digest string // sha256:…
}

func (r resolved) String() string { return r.repo + "@" + r.digest }

func (r resolved) nameDigest() (name.Digest, error) {
	d, err := name.NewDigest(r.String())
	if err != nil {
		return name.Digest{}, fmt.Errorf("%w: %v", ErrBadReference, err)
	}
	return d, nil
}

func (v *Verifier) resolve(ctx context.Context, ref name.Reference, kc authn.Keychain) (resolved, error) {
	if d, ok := ref.(name.Digest); ok {
		return resolved{repo: d.Context().Name(), digest: d.DigestStr()}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, v.opts.RegistryTimeout)
	defer cancel()
	done := v.metrics.registryTimer("resolve")
	desc, err := remote.Head(ref, v.registryOptions(ctx, kc)...)
	done()
	if err != nil {
		return resolved{}, fmt.Errorf("%w: resolving %s: %s", ErrRegistry, ref, registryErr(ctx, err))
	}
	return resolved{repo: ref.Context().Name(), digest: desc.Digest.String()}, nil
}

// ErrRegistry reports a registry that could not be reached or answered nonsense.
var ErrRegistry = errors.New("verify: registry unreachable")

func registryErr(ctx context.Context, err error) string {
	if ctx.Err() != nil {
		return "timed out: " + shortErr(err)
	}
	return shortErr(err)
}

// refMemo remembers parsed references (immutable values); pods repeat the same few images.
type refMemo struct {
	mu sync.RWMutex
	m  map[string]name.Reference
}

const refMemoSize = 4096

func (v *Verifier) parse(image string) (name.Reference, error) {
	v.refs.mu.RLock()
	ref, ok := v.refs.m[image]
	v.refs.mu.RUnlock()
	if ok {
		return ref, nil
	}
	ref, err := ParseReference(image)
	if err != nil {
		return nil, err
	}
	v.refs.mu.Lock()
	if v.refs.m == nil || len(v.refs.m) >= refMemoSize {
		v.refs.m = make(map[string]name.Reference)
	}
	v.refs.m[image] = ref
	v.refs.mu.Unlock()
	return ref, nil
}
