package rot

import (
	"fmt"
	"strings"
)

// CheckName accepts a DNS-1123 label: 1-63 lower-case letters, digits and '-', starting and
// ending with a letter or digit (names become SPIFFE path segments, DNS SANs and file names).
func CheckName(what, s string) error {
	if len(s) == 0 || len(s) > 63 || !isLabel(s) {
		return fmt.Errorf("rot: %s %q must be 1-63 lower-case letters, digits or '-', starting and ending with a letter or digit", what, s)
	}
	return nil
}

func isLabel(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// checkHostname accepts a lower-case DNS name (labels joined by dots, at most 253 bytes).
func checkHostname(h string) error {
	if len(h) == 0 || len(h) > 253 {
		return fmt.Errorf("rot: hostname %q must be 1-253 bytes", h)
	}
	for _, l := range strings.Split(h, ".") {
		if !isLabel(l) {
			return fmt.Errorf("rot: hostname %q is not a lower-case DNS name", h)
		}
	}
	return nil
}
