package verify

import (
	"regexp"
	"strings"
	"testing"

	sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"
)

func TestSelfAnchored(t *testing.T) {
	for _, tt := range []struct {
		re   string
		want bool
	}{
		{`^https://github\.com/org/.*$`, true},
		{`^a$|^b$`, true},
		{`^(a|b)$`, true},
		{`\Aci@example\.org\z`, true},
		{`^https://github\.com/org/`, false},
		{`github\.com/org/.*$`, false},
		{`github\.com/org/`, false},
		{`^a|b$`, false},
		{`(?m)^a$`, false},
		{``, false},
		{`([`, false},
	} {
		if got := selfAnchored(tt.re); got != tt.want {
			t.Errorf("selfAnchored(%q) = %v, want %v", tt.re, got, tt.want)
		}
	}
}

func TestUnanchoredRegExps(t *testing.T) {
	p := &sealv1.ImagePolicy{Spec: sealv1.ImagePolicySpec{Authorities: []sealv1.Authority{
		{Name: "k", Key: &sealv1.KeyRef{Data: "x"}},
		{Name: "ci", Keyless: &sealv1.Keyless{Identities: []sealv1.Identity{
			{IssuerRegExp: `^https://token\.actions\.githubusercontent\.com$`, SubjectRegExp: `github\.com/org/`},
			{Issuer: "https://issuer.test", SubjectRegExp: `^ci@org\.test$`},
		}}},
	}}}
	got := UnanchoredRegExps(p)
	if len(got) != 1 || !strings.Contains(got[0], "authorities[1] (ci) identities[0].subjectRegExp") {
		t.Fatalf("UnanchoredRegExps = %q, want the one subjectRegExp without ^…$", got)
	}
}

// FuzzSelfAnchored checks the claim the status warning rests on: a pattern called self-anchored
// matches exactly what its anchored form matches.
func FuzzSelfAnchored(f *testing.F) {
	for _, s := range []string{`^a$`, `^a$|^b$`, `^(a|b)$`, `a`, `^a`, `(?m)^a$`, `\Aa\z`, `^(?:x|y$)`, `^$`, `^a*$|b`} {
		f.Add(s, "a")
	}
	f.Fuzz(func(t *testing.T, re, input string) {
		if len(re) > 200 || len(input) > 200 {
			return
		}
		r, err := regexp.Compile(re)
		if err != nil || !selfAnchored(re) {
			return
		}
		anchored := regexp.MustCompile(anchor(re))
		if r.MatchString(input) != anchored.MatchString(input) {
			t.Fatalf("%q is called self-anchored but matches %q differently anchored", re, input)
		}
	})
}
