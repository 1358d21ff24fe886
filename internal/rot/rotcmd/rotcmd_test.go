package rotcmd_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/seal-dev/seal/internal/rot/rotcmd"
)

// TestExitCodes: a mistake in the command line exits 2 with a pointer to --help, as the other
// Seal commands do (docs/cli.md); --help exits 0.
func TestExitCodes(t *testing.T) {
	for name, tc := range map[string]struct {
		args []string
		want int
		msg  string
	}{
		"help":                   {[]string{"--help"}, rotcmd.ExitOK, ""},
		"unknown flag":           {[]string{"serve", "--no-such-flag"}, rotcmd.ExitUsage, "unknown flag"},
		"missing flag":           {[]string{"serve", "--state-dir", "unused"}, rotcmd.ExitUsage, "trust-domain"},
		"bad log level":          {[]string{"serve", "--state-dir", "unused", "--trust-domain", "td.example", "--log-level", "loud"}, rotcmd.ExitUsage, "--log-level"},
		"bad log format":         {[]string{"serve", "--state-dir", "unused", "--trust-domain", "td.example", "--log-format", "xml"}, rotcmd.ExitUsage, "--log-format"},
		"extra argument":         {[]string{"serve", "extra"}, rotcmd.ExitUsage, "extra"},
		"admin-cert args":        {[]string{"admin-cert", "extra"}, rotcmd.ExitUsage, "extra"},
		"migrate no --to":        {[]string{"migrate", "--from", "dir:/nonexistent"}, rotcmd.ExitUsage, "to"},
		"migrate bad store":      {[]string{"migrate", "--from", "file:/x", "--to", "dir:/y"}, rotcmd.ExitUsage, `want dir:PATH or kube:[CONTEXT/]NAMESPACE`},
		"migrate no namespace":   {[]string{"migrate", "--from", "dir:/x", "--to", "kube:ctx/"}, rotcmd.ExitUsage, "no namespace"},
		"migrate same store":     {[]string{"migrate", "--from", "kube:a/ns", "--to", "kube:a/ns"}, rotcmd.ExitUsage, "both"},
		"migrate missing source": {[]string{"migrate", "--from", "dir:/nonexistent/seal", "--to", "dir:/tmp/unused"}, rotcmd.ExitFailure, ""},
	} {
		t.Run(name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if got := rotcmd.Main(context.Background(), tc.args, &out, &errb); got != tc.want {
				t.Fatalf("Main(%q) = %d, want %d; stderr:\n%s", tc.args, got, tc.want, errb.String())
			}
			if tc.want == rotcmd.ExitUsage && (!strings.Contains(errb.String(), tc.msg) || !strings.Contains(errb.String(), "see seal-rot --help")) {
				t.Errorf("stderr = %q, want %q and a pointer to --help", errb.String(), tc.msg)
			}
		})
	}
}
