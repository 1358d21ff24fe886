package verify_test

import (
	"strings"
	"testing"

	"github.com/seal-dev/seal/internal/verify"
	sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"
)

func TestGlob(t *testing.T) {
	for _, tt := range []struct {
		glob, image string
		want        bool
	}{
		{"nginx", "nginx", true},
		{"nginx", "docker.io/library/nginx:1.25", true},
		{"nginx", "index.docker.io/library/nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", true},
		{"nginx", "nginxx", false},
		{"library/*", "redis:7", true},
		{"docker.io/library/*", "redis", true},
		{"team/app", "team/app:v1", true},
		{"registry.example.com/team/*", "registry.example.com/team/app:v1", true},
		{"registry.example.com/team/*", "registry.example.com/team/sub/app:v1", false},
		{"registry.example.com/team/**", "registry.example.com/team/sub/app:v1", true},
		{"registry.example.com/**", "registry.example.org/app", false},
		{"localhost:5000/*", "localhost:5000/app:dev", true},
		{"127.0.0.1:*/**", "127.0.0.1:34567/team/app:v1", true},
		{"**", "quay.io/anything/at/all:tag", true},
		{"ghcr.io/org/app:v1", "ghcr.io/org/app:v1", true},
		{"ghcr.io/org/app:v1", "ghcr.io/org/app:v2", false},
	} {
		t.Run(tt.glob+"~"+tt.image, func(t *testing.T) {
			g, err := verify.CompileGlob(tt.glob)
			if err != nil {
				t.Fatal(err)
			}
			ref, err := verify.ParseReference(tt.image)
			if err != nil {
				t.Fatal(err)
			}
			if got := g.Match(ref); got != tt.want {
				t.Errorf("glob %q matches %q (%s) = %v, want %v", tt.glob, tt.image, ref.Name(), got, tt.want)
			}
		})
	}
}

func TestBadGlobs(t *testing.T) {
	for _, g := range []string{"", "a b", "reg/(x)", "reg/[ab]", "reg/a+", "reg/***", "reg/$x"} {
		if _, err := verify.CompileGlob(g); err == nil {
			t.Errorf("CompileGlob(%q) succeeded, want an error", g)
		}
	}
}

func FuzzParseReference(f *testing.F) {
	for _, s := range []string{"nginx", "nginx:1.25", "docker.io/library/nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		"127.0.0.1:5000/a/b:c", "a:b:c", "@sha256:", "UPPER", strings.Repeat("a/", 3000)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ref, err := verify.ParseReference(s)
		if err != nil {
			return
		}
		// A parsed reference re-parses to the same name.
		again, err := verify.ParseReference(ref.Name())
		if err != nil {
			t.Fatalf("ParseReference(%q).Name() = %q does not re-parse: %v", s, ref.Name(), err)
		}
		if again.Name() != ref.Name() {
			t.Fatalf("round trip %q -> %q -> %q", s, ref.Name(), again.Name())
		}
		_, _, _ = verify.PinnedDigest(s)
	})
}

func FuzzGlob(f *testing.F) {
	for _, s := range [][2]string{{"nginx", "nginx"}, {"**", "x"}, {"reg/*/x", "reg/a/x"}, {"a***", "a"}, {"*:*", "a:b"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, glob, image string) {
		g, err := verify.CompileGlob(glob)
		if err != nil {
			return
		}
		ref, err := verify.ParseReference(image)
		if err != nil {
			return
		}
		_ = g.Match(ref)
		if all, _ := verify.CompileGlob("**"); !all.Match(ref) {
			t.Fatalf("** does not match %q", image)
		}
	})
}

func FuzzPolicy(f *testing.F) {
	seeds := []string{
		"apiVersion: seal.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {name: p}\nspec:\n  images: [{glob: \"reg/**\"}]\n  authorities: [{name: k, key: {data: \"x\"}}]\n",
		"apiVersion: seal.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {name: p}\nspec:\n  images: [{glob: \"**\"}]\n  authorities: [{name: k, keyless: {identities: [{issuer: a, subjectRegExp: \"([\"}], trustedRoot: {certificateAuthorities: \"x\"}}}]\n",
		"apiVersion: seal.dev/v1alpha1\nkind: ApprovedImage\nmetadata: {name: a}\nspec: {image: \"reg/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}\n",
		"---\n---\nkind: Other\n",
		"{]",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		pols, err := verify.ReadPolicies(strings.NewReader(doc))
		if err != nil {
			return
		}
		for i := range pols.Policies {
			if err := verify.CheckPolicy(&pols.Policies[i]); err != nil {
				t.Fatalf("ReadPolicies accepted a policy CheckPolicy rejects: %v", err)
			}
		}
		var p sealv1.ImagePolicy
		_ = verify.CheckPolicy(&p)
	})
}
