package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestMainFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"help teaches", []string{"--help"}, ExitOK, []string{"seal.dev/inject=enabled", "--init-image", "--cert-dir", "caBundle", "Example:", "--policy-reports", "--scan-interval"}},
		{"image required", []string{"--trust-domain", "prod.example.org"}, ExitUsage, []string{"--init-image", "see seal-webhook --help"}},
		{"trust domain required", []string{"--init-image", "i"}, ExitUsage, []string{"--trust-domain"}},
		{"bad quantity", []string{"--init-image", "i", "--trust-domain", "t.org", "--init-memory-limit", "lots"}, ExitUsage, []string{`--init-memory-limit "lots"`}},
		{"bad pull policy", []string{"--init-image", "i", "--trust-domain", "t.org", "--init-image-pull-policy", "Sometimes"}, ExitUsage, []string{"Sometimes"}},
		{"stray argument", []string{"--init-image", "i", "--trust-domain", "t.org", "serve"}, ExitUsage, []string{`unexpected argument "serve"`}},
		{"unknown flag", []string{"--listen", ":1"}, ExitUsage, []string{"listen"}},
		{"scan without reports", []string{"--init-image", "i", "--trust-domain", "t.org", "--scan-interval", "1h"}, ExitUsage, []string{"--scan-interval 1h0m0s", "--policy-reports"}},
		{"negative scan interval", []string{"--init-image", "i", "--trust-domain", "t.org", "--policy-reports", "--scan-interval", "-1m"}, ExitUsage, []string{"positive duration"}},
		{"bad log format", []string{"--init-image", "i", "--trust-domain", "t.org", "--log-format", "xml"}, ExitUsage, []string{`--log-format "xml"`, "text or json"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			if code := Main(context.Background(), tc.args, &stderr); code != tc.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tc.code, stderr.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr does not mention %q:\n%s", w, stderr.String())
				}
			}
		})
	}
}
