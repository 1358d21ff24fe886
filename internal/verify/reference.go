package verify

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// ErrBadReference reports an image reference that cannot be parsed.
var ErrBadReference = errors.New("verify: bad image reference")

// maxReferenceLen bounds the references we parse; registries reject longer ones anyway.
const maxReferenceLen = 4096

// ParseReference parses an image reference the way the container runtime does: `nginx` is
// `index.docker.io/library/nginx:latest`.
func ParseReference(image string) (name.Reference, error) {
	if image == "" {
		return nil, fmt.Errorf("%w: empty", ErrBadReference)
	}
	if len(image) > maxReferenceLen {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrBadReference, maxReferenceLen)
	}
	var ref name.Reference
	var err error
	if strings.Contains(image, "@") {
		ref, err = name.NewDigest(image) // the common case once images are pinned; skips the tag attempt
	} else {
		ref, err = name.ParseReference(image)
	}
	if err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrBadReference, image, err)
	}
	return ref, nil
}

// PinnedDigest returns the digest reference an image names, if it names one. `repo:tag@sha256:…`
// gives `repo@sha256:…`.
func PinnedDigest(image string) (name.Digest, bool, error) {
	ref, err := ParseReference(image)
	if err != nil {
		return name.Digest{}, false, err
	}
	d, ok := ref.(name.Digest)
	return d, ok, nil
}

// Glob matches normalized image names the way sigstore policy-controller does: `*` matches within
// one path segment, `**` across segments, and a glob without a registry means Docker Hub
// (`nginx` is `index.docker.io/library/nginx`).
type Glob struct {
	pattern string
	re      *regexp.Regexp
	prefix  string // literal prefix every match starts with
}

var validGlob = regexp.MustCompile(`^[a-zA-Z0-9_\-:/*.@]+$`)

// CompileGlob checks and compiles a glob.
func CompileGlob(glob string) (*Glob, error) {
	if len(glob) > maxReferenceLen {
		return nil, fmt.Errorf("verify: glob longer than %d bytes", maxReferenceLen)
	}
	if !validGlob.MatchString(glob) {
		return nil, fmt.Errorf("verify: glob %q: only letters, digits and - _ : / * . @ are allowed", glob)
	}
	if strings.Contains(glob, "***") {
		return nil, fmt.Errorf("verify: glob %q: at most two * in a row", glob)
	}
	norm := normalizeGlob(glob)
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(norm); i++ {
		c := norm[i]
		switch {
		case c == '*' && i+1 < len(norm) && norm[i+1] == '*':
			b.WriteString(".*")
			i++
		case c == '*':
			b.WriteString("[^/]*")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, fmt.Errorf("verify: glob %q: %v", glob, err)
	}
	prefix, _ := re.LiteralPrefix()
	return &Glob{pattern: glob, re: re, prefix: prefix}, nil
}

// normalizeGlob adds Docker Hub's registry and `library/` the way name.ParseReference does.
func normalizeGlob(glob string) string {
	if strings.HasPrefix(glob, "**") {
		return glob
	}
	first, rest, hasSlash := strings.Cut(glob, "/")
	switch {
	case !hasSlash:
		return name.DefaultRegistry + "/library/" + glob
	case first == "docker.io":
		return name.DefaultRegistry + "/" + rest
	case !strings.ContainsAny(first, ".:*") && first != "localhost":
		return name.DefaultRegistry + "/" + glob
	}
	return glob
}

// String is the glob as written.
func (g *Glob) String() string { return g.pattern }

// Match reports whether the glob matches the image's repository (`index.docker.io/library/nginx`)
// or its full reference (`…/nginx@sha256:…`).
func (g *Glob) Match(ref name.Reference) bool {
	return g.match(ref.Context().Name()) || g.match(ref.Name())
}

func (g *Glob) match(s string) bool {
	return strings.HasPrefix(s, g.prefix) && g.re.MatchString(s)
}
