package verifytest

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Registry is a real OCI registry (go-containerregistry's pkg/registry, with the referrers API)
// on 127.0.0.1 that records every request.
type Registry struct {
	Server *httptest.Server
	// Host is "127.0.0.1:PORT"; references under it use plain HTTP.
	Host string

	mu         sync.Mutex
	log        []string // "GET /v2/…"
	user, pass string
	hook       func(*http.Request) int
}

// Hook runs f before every later request reaches the registry (after it is logged). When f
// returns a status code other than 0 the request fails with it, so a test can make a registry
// fail or stall (f may block) exactly where it wants.
func (r *Registry) Hook(f func(req *http.Request) int) {
	r.mu.Lock()
	r.hook = f
	r.mu.Unlock()
}

// FailFirstHEAD makes the first HEAD of the manifest repo:tag fail with status (later ones
// succeed): a registry that answers differently the second time. go-containerregistry retries
// 408, 429, 499, 500, 502, 503, 504 and 522 by itself; another 5xx (501) fails the call.
func (r *Registry) FailFirstHEAD(repo, tag string, status int) {
	var once sync.Once
	path := "/v2/" + repo + "/manifests/" + tag
	r.Hook(func(req *http.Request) int {
		code := 0
		if req.Method == http.MethodHead && req.URL.Path == path {
			once.Do(func() { code = status })
		}
		return code
	})
}

// RequireAuth makes every later request need HTTP basic auth with user and pass (push and sign
// first, then lock the registry).
func (r *Registry) RequireAuth(user, pass string) {
	r.mu.Lock()
	r.user, r.pass = user, pass
	r.mu.Unlock()
}

// NewRegistry starts a registry that stops when t ends.
func NewRegistry(t testing.TB) *Registry {
	t.Helper()
	r := StartRegistry()
	t.Cleanup(r.Close)
	return r
}

// StartRegistry starts a registry outside a test (the demo's); Close stops it.
func StartRegistry() *Registry {
	h := registry.New(registry.WithReferrersSupport(true), registry.Logger(log.New(io.Discard, "", 0)))
	r := &Registry{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.log = append(r.log, req.Method+" "+req.URL.Path)
		user, pass, hook := r.user, r.pass, r.hook
		r.mu.Unlock()
		if hook != nil {
			if code := hook(req); code != 0 {
				http.Error(w, `{"errors":[{"code":"UNKNOWN","message":"injected failure"}]}`, code)
				return
			}
		}
		if user != "" {
			if u, p, ok := req.BasicAuth(); !ok || u != user || p != pass {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
				return
			}
		}
		h.ServeHTTP(w, req)
	}))
	r.Host = strings.TrimPrefix(r.Server.URL, "http://")
	return r
}

// Close stops the registry.
func (r *Registry) Close() { r.Server.Close() }

// Requests returns the request log so far.
func (r *Registry) Requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.log...)
}

// Count returns how many logged requests have the method and contain substr in their path.
func (r *Registry) Count(method, substr string) int {
	n := 0
	for _, l := range r.Requests() {
		if strings.HasPrefix(l, method+" ") && strings.Contains(l, substr) {
			n++
		}
	}
	return n
}

// SignatureReads counts manifest reads of signatures: the legacy `.sig` tag and the referrers
// index. One verification of an image makes one of each.
func (r *Registry) SignatureReads() int {
	n := 0
	for _, l := range r.Requests() {
		if (strings.HasPrefix(l, "GET ") || strings.HasPrefix(l, "HEAD ")) &&
			(strings.Contains(l, "/manifests/sha256-") && strings.HasSuffix(l, ".sig") || strings.Contains(l, "/referrers/")) {
			n++
		}
	}
	return n
}

// Reset clears the request log.
func (r *Registry) Reset() {
	r.mu.Lock()
	r.log = nil
	r.mu.Unlock()
}

// Push writes a random image to repo:tag on the registry and returns its digest reference.
func (r *Registry) Push(t testing.TB, repo, tag string) name.Digest {
	t.Helper()
	d, err := r.PushRandom(repo, tag)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// PushRandom is Push outside a test.
func (r *Registry) PushRandom(repo, tag string) (name.Digest, error) {
	img, err := random.Image(256, 1)
	if err != nil {
		return name.Digest{}, err
	}
	ref, err := name.NewTag(r.Host + "/" + repo + ":" + tag)
	if err != nil {
		return name.Digest{}, err
	}
	if err := remote.Write(ref, img); err != nil {
		return name.Digest{}, fmt.Errorf("verifytest: pushing %s: %w", ref, err)
	}
	h, err := img.Digest()
	if err != nil {
		return name.Digest{}, err
	}
	return ref.Context().Digest(h.String()), nil
}
