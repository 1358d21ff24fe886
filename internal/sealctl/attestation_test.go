package sealctl

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seal-dev/seal/internal/rot/rottest"
	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/store/storetest"
)

// TestAttestationCommands drives sealctl attestation and workload create --attest against a
// real ROT.
func TestAttestationCommands(t *testing.T) {
	r := rottest.Start(t)
	env := envFor(r)
	ak := filepath.Join(t.TempDir(), "node-1.pem")
	if err := os.WriteFile(ak, []byte(storetest.AttestationKey().AKPub), 0o600); err != nil {
		t.Fatal(err)
	}
	pcr7 := strings.Repeat("ab", 32)
	steps := []struct {
		name     string
		args     []string
		wantCode int
		want     string // in stdout (or stderr when the code is not 0)
	}{
		{"workload naming a missing policy", []string{"workload", "create", "vault", "--attest", "prod"}, ExitFailed, `attestation policy "prod" does not exist`},
		{"policy set", []string{"attestation", "policy", "set", "prod", "--pcr", "7=" + strings.ToUpper(pcr7), "--pcr", "0=" + strings.Repeat("00", 32)}, 0, pcr7},
		{"policy bad value", []string{"attestation", "policy", "set", "bad", "--pcr", "7=12"}, ExitUsage, "PCR 7 value"},
		{"policy bad index", []string{"attestation", "policy", "set", "bad", "--pcr", "x=12"}, ExitUsage, `PCR index "x"`},
		{"policy not INDEX=HEX", []string{"attestation", "policy", "set", "bad", "--pcr", "7"}, ExitUsage, "is not INDEX=HEX"},
		{"key add", []string{"attestation", "key", "add", "node-1", "--ak-pub", ak}, 0, "Fingerprint:"},
		{"key add without file", []string{"attestation", "key", "add", "node-2"}, ExitUsage, "--ak-pub FILE is required"},
		{"key list", []string{"attestation", "key", "list"}, 0, "node-1"},
		{"policy list", []string{"attestation", "policy", "list"}, 0, "prod"},
		{"workload with policy", []string{"workload", "create", "vault", "--attest", "prod"}, 0, "Attest:"},
		{"key delete", []string{"attestation", "key", "delete", "node-1"}, 0, `attestation key "node-1" deleted`},
		{"key delete again", []string{"attestation", "key", "delete", "node-1"}, ExitFailed, `attestation key "node-1"`},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			res := run(t, env, "", s.args...)
			got := res.stdout
			if s.wantCode != 0 {
				got = res.stderr
			}
			if res.code != s.wantCode || !strings.Contains(got, s.want) {
				t.Fatalf("sealctl %v: code %d stdout %q stderr %q; want code %d with %q", s.args, res.code, res.stdout, res.stderr, s.wantCode, s.want)
			}
		})
	}
	res := run(t, env, "", "workload", "get", "vault", "-o", "json")
	var w rotapi.Workload
	if err := json.Unmarshal([]byte(res.stdout), &w); err != nil || w.Attest != "prod" {
		t.Errorf("workload get: %q (%v), want attest prod", res.stdout, err)
	}
}
