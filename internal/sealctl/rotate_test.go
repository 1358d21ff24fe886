package sealctl

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seal-dev/seal/internal/ca"
	"github.com/seal-dev/seal/internal/rot/rottest"
	"github.com/seal-dev/seal/internal/rotapi"
)

// TestAdminExpiryWarning: sealctl warns on stderr from 30 days before its admin certificate
// expires, with a moved clock; stdout stays clean for scripts.
func TestAdminExpiryWarning(t *testing.T) {
	r := rottest.Start(t)
	b, err := os.ReadFile(filepath.Join(r.AdminDir, "tls.crt"))
	if err != nil {
		t.Fatal(err)
	}
	certs, err := ca.ParseCerts(b)
	if err != nil {
		t.Fatal(err)
	}
	notAfter := certs[0].NotAfter
	for _, tc := range []struct {
		name string
		now  time.Time
		want string // "" = no warning
	}{
		{"today", time.Now(), ""},
		{"31 days before expiry", notAfter.Add(-31 * 24 * time.Hour), ""},
		{"29 days before expiry", notAfter.Add(-29*24*time.Hour - time.Minute), "expires at " + notAfter.UTC().Format(time.RFC3339) + " (in 29 days)"},
		{"after expiry", notAfter.Add(time.Hour), "expired at"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			a := &app{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, now: func() time.Time { return tc.now },
				getenv: func(k string) string { return envFor(r)[k] }}
			cmd := newRootCommand(a)
			cmd.SetArgs([]string{"workload", "list", "-o", "json"})
			_ = cmd.ExecuteContext(context.Background()) // after expiry the ROT refuses; the warning comes first
			if tc.want == "" {
				if strings.Contains(errb.String(), "warning") {
					t.Errorf("stderr %q, want no warning", errb.String())
				}
				return
			}
			if !strings.Contains(errb.String(), tc.want) || !strings.Contains(errb.String(), "seal-rot admin-cert") {
				t.Errorf("stderr %q, want a warning containing %q and the fix", errb.String(), tc.want)
			}
			if strings.Contains(out.String(), "warning") {
				t.Errorf("warning on stdout: %q", out.String())
			}
		})
	}
}

// TestRotateAndCACommands drives sealctl rotate and sealctl ca against a real ROT.
func TestRotateAndCACommands(t *testing.T) {
	r := rottest.Start(t)
	env := envFor(r)
	ok(t, env, "", "workload", "create", "pay")
	var before []rotapi.CA
	if err := json.Unmarshal([]byte(ok(t, env, "", "ca", "list", "-o", "json").stdout), &before); err != nil || len(before) != 2 {
		t.Fatalf("ca list: %v %+v", err, before)
	}
	// Without --now the new CA is published and signs one certificate TTL later: the old one
	// cannot be retired yet.
	res := ok(t, env, "", "rotate", "workload-ca", "pay")
	if !strings.Contains(res.stdout, "workload  pay") || !strings.Contains(res.stdout, "from ") || !strings.Contains(res.stderr, "starts signing at") {
		t.Errorf("rotate workload-ca: want the CURRENT column and a note saying when it signs:\n%s\n%s", res.stdout, res.stderr)
	}
	oldPay := before[1].Fingerprint
	refused(t, env, "signs until", "ca", "retire", oldPay[:16])
	res = ok(t, env, "", "rotate", "workload-ca", "pay", "--now")
	if !strings.Contains(res.stdout, "workload  pay") || !strings.Contains(res.stdout, "yes") {
		t.Errorf("rotate workload-ca --now table:\n%s", res.stdout)
	}
	res = ok(t, env, "", "ca", "retire", oldPay[:16])
	if !strings.Contains(res.stdout, oldPay) {
		t.Errorf("ca retire output lacks %s:\n%s", oldPay, res.stdout)
	}
	refused(t, env, "no CA in use has the fingerprint", "ca", "retire", oldPay)
	res = ok(t, env, "", "rotate", "egg-key")
	if !strings.Contains(res.stdout, "Egg key:") {
		t.Errorf("rotate egg-key:\n%s", res.stdout)
	}
	res = ok(t, env, "", "rotate", "jwt-key")
	if !strings.Contains(res.stdout, "JWT key:") || !strings.Contains(res.stdout, "jwt-") {
		t.Errorf("rotate jwt-key:\n%s", res.stdout)
	}
	res = ok(t, env, "", "rotate", "rot-ca", "-o", "json")
	var rotated rotapi.RotateResponse
	if err := json.Unmarshal([]byte(res.stdout), &rotated); err != nil || len(rotated.Created) != 2 {
		t.Errorf("rotate rot-ca: %v %s", err, res.stdout)
	}
	refused(t, env, "rotate rot-ca first", "ca", "retire", rotated.Created[0].Fingerprint)
	refused(t, env, "signed your admin certificate", "ca", "retire", before[0].Fingerprint)
	if res := run(t, env, "", "rotate", "workload-ca"); res.code != ExitUsage {
		t.Errorf("rotate workload-ca without WORKLOAD: exit %d", res.code)
	}
}
