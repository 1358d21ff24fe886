package route

import (
	"errors"
	"strings"
	"testing"
)

func TestHostPatterns(t *testing.T) {
	ps, err := ParseHostPatterns([]string{"*.apps.example.com", " Pay-?.shop.example.org ", "", "exact.example.net"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		host string
		want bool
	}{
		{"pay.apps.example.com", true},
		{"PAY.Apps.Example.com", true},
		{"a.b.apps.example.com", false}, // a glob never crosses a dot
		{"apps.example.com", false},
		{"pay-1.shop.example.org", true},
		{"pay-12.shop.example.org", false},
		{"exact.example.net", true},
		{"other.example.net", false},
		{"evil.com", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			if got := ps.Match(tt.host); got != tt.want {
				t.Errorf("Match(%q) = %v, want %v", tt.host, got, tt.want)
			}
		})
	}
	if HostPatterns(nil).Match("pay.apps.example.com") {
		t.Error("an empty allow-list allows a host")
	}
}

func TestParseHostPatternsRefuses(t *testing.T) {
	tests := map[string]string{
		"everything":      "*",
		"every two-label": "*.*",
		"empty label":     "a..example.com",
		"bad character":   "pay_1.example.com",
		"bracket glob":    "pay[12].example.com",
		"leading dash":    "-x.example.com",
		"too long":        strings.Repeat("a.", 130) + "com",
	}
	for name, p := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := ParseHostPatterns([]string{p})
			if !errors.Is(err, ErrBadHostPattern) || !strings.Contains(err.Error(), "fix:") {
				t.Errorf("ParseHostPatterns(%q) = %v, want ErrBadHostPattern with a fix", p, err)
			}
		})
	}
}

// FuzzHostPatterns: a pattern is either refused or matches hosts without panicking, and an
// accepted pattern never matches a host with a different number of labels.
func FuzzHostPatterns(f *testing.F) {
	for _, s := range [][2]string{{"*.apps.example.com", "a.apps.example.com"}, {"a?.b", "ab.b"}, {"*", "x"}, {"[", "["}, {"\\", "x"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, host string) {
		ps, err := ParseHostPatterns([]string{pattern})
		if err != nil {
			return
		}
		if ps.Match(host) && strings.Count(strings.ToLower(host), ".") != strings.Count(ps[0], ".") {
			t.Errorf("%q matched %q with another number of labels", ps[0], host)
		}
	})
}
