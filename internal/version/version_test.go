package version

import (
	"fmt"
	"runtime/debug"
	"strings"
	"testing"
)

func TestGet(t *testing.T) {
	tests := []struct {
		name, ldflags, module string
		ok                    bool
		want                  string
	}{
		{"ldflags win", "v0.2.0", "v0.1.0", true, "v0.2.0"},
		{"go install records the module version", "", "v0.1.0", true, "v0.1.0"},
		{"a source build is dev", "", "(devel)", true, "dev"},
		{"no build info", "", "", false, "dev"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			oldV, oldR := Version, readBuildInfo
			defer func() { Version, readBuildInfo = oldV, oldR }()
			Version = tt.ldflags
			readBuildInfo = func() (*debug.BuildInfo, bool) {
				return &debug.BuildInfo{Main: debug.Module{Version: tt.module}}, tt.ok
			}
			if got := Get(); got != tt.want {
				t.Errorf("Get() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestStringAndRequested(t *testing.T) {
	if s := String("seal-rot"); !strings.HasPrefix(s, "seal-rot "+Get()+" (go") {
		t.Errorf("String = %q, want seal-rot <version> (go...)", s)
	}
	for _, tt := range []struct {
		args []string
		want bool
	}{{[]string{"--version"}, true}, {[]string{"-version"}, true}, {nil, false}, {[]string{"serve", "--version"}, false}} {
		if got := Requested(tt.args); got != tt.want {
			t.Errorf("Requested(%q) = %v, want %v", tt.args, got, tt.want)
		}
	}
}

func ExampleGet() {
	Version = "v0.1.0" // what -ldflags -X sets
	defer func() { Version = "" }()
	fmt.Println(Get())
	// Output: v0.1.0
}
