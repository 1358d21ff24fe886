package rotcmd

import (
	"testing"
)

func TestParseStoreSpec(t *testing.T) {
	for in, want := range map[string]storeSpec{
		"dir:/var/lib/seal-rot":                   {dir: "/var/lib/seal-rot"},
		"kube:seal-rot":                           {namespace: "seal-rot"},
		"kube:prod/seal-rot":                      {kubeContext: "prod", namespace: "seal-rot"},
		"kube:arn:aws:eks:eu-1:1:cluster/prod/ns": {kubeContext: "arn:aws:eks:eu-1:1:cluster/prod", namespace: "ns"},
	} {
		got, err := parseStoreSpec("--from", in)
		if err != nil || got != want {
			t.Errorf("parseStoreSpec(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "dir:", "kube:", "kube:/ns", "kube:ctx/", "file:/x", "/var/lib/seal-rot"} {
		if _, err := parseStoreSpec("--from", in); err == nil {
			t.Errorf("parseStoreSpec(%q) accepted it", in)
		}
	}
}

// FuzzParseStoreSpec: no input panics, and what parses prints back to the same store.
func FuzzParseStoreSpec(f *testing.F) {
	for _, s := range []string{"dir:/x", "kube:ns", "kube:ctx/ns", "kube:a/b/c", "kube:/", "dir::", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := parseStoreSpec("--from", in)
		if err != nil {
			return
		}
		again, err := parseStoreSpec("--from", s.String())
		if err != nil || again != s {
			t.Fatalf("parseStoreSpec(%q) = %+v, printed %q, parsed back %+v, %v", in, s, s.String(), again, err)
		}
	})
}
