package rot_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/seal-dev/seal/internal/attest"
	"github.com/seal-dev/seal/internal/podtoken/podtokentest"
	"github.com/seal-dev/seal/internal/rotapi"
)

func TestImageKeyRelease(t *testing.T) {
	a := startAttested(t)
	create := func(w string) rotapi.ImageKey {
		t.Helper()
		var k rotapi.ImageKey
		if err := a.r.Admin.Do(ctx(t), http.MethodPost, rotapi.Path(rotapi.PathImageKeys, w), rotapi.ImageKeyCreate{}, &k); err != nil {
			t.Fatalf("creating an image key of %s: %v", w, err)
		}
		if len(k.Key) != rotapi.ImageKeySize || len(k.ID) != 32 || k.Workload != w {
			t.Fatalf("created %+v, want a 32-byte key of %s with a 32-digit id", k, w)
		}
		return k
	}
	vaultKey, strictKey := create("vault"), create("strict")
	if bytes.Equal(vaultKey.Key, strictKey.Key) {
		t.Fatal("two image keys are equal")
	}
	if fi, err := os.Stat(filepath.Join(a.r.StateDir, "image-keys", vaultKey.ID+".json")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("stored image key: %v (mode %v), want a 0600 file", err, fi)
	}
	err := a.r.Admin.Do(ctx(t), http.MethodPost, rotapi.Path(rotapi.PathImageKeys, "plain"), rotapi.ImageKeyCreate{}, nil)
	if err == nil || !strings.Contains(err.Error(), `workload "plain" has no attestation policy`) {
		t.Errorf("image key of a workload without policy: %v, want refused naming the missing policy", err)
	}

	egg := func(w string) string { return a.r.MintEgg(t, w, rotapi.MintRequest{}) }
	good := func(t *testing.T, e string) *rotapi.Evidence { return a.evidence(t, e, attest.DefaultAKHandle) }
	none := func(*testing.T, string) *rotapi.Evidence { return nil }
	tests := []struct {
		name     string
		egg, key string
		ev       func(t *testing.T, eggText string) *rotapi.Evidence
		wantCode int
		wantErr  string
	}{
		{"attested node of the workload", egg("vault"), vaultKey.ID, good, 200, ""},
		{"no evidence", egg("vault"), vaultKey.ID, none, 403, "attestation refused: attest: no evidence"},
		{"wrong PCR policy", egg("strict"), strictKey.ID, good, 403, "PCR 7 mismatch"},
		{"other workload's Egg", egg("strict"), vaultKey.ID, good, 403, `is of workload "vault", the Egg of workload "strict"`},
		{"workload without policy", egg("plain"), vaultKey.ID, none, 403, `is of workload "vault", the Egg of workload "plain"`},
		{"unregistered AK", egg("vault"), vaultKey.ID, func(t *testing.T, e string) *rotapi.Evidence { return a.evidence(t, e, attest.DefaultAKHandle+1) }, 403, "unknown AK"},
		{"unknown key", egg("vault"), strings.Repeat("ab", 16), good, 404, "does not exist at this ROT"},
		{"not an Egg", "egg", vaultKey.ID, none, 400, ""},
		{"not a key id", egg("vault"), "../../etc", none, 400, "is not an image key id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, _ := json.Marshal(rotapi.ImageKeyRequest{Egg: tt.egg, ImageKey: tt.key, Evidence: tt.ev(t, tt.egg)})
			code, msg := post(t, a.client, rotapi.PathImageKey, body)
			if code != tt.wantCode || !strings.Contains(msg, tt.wantErr) {
				t.Fatalf("got %d %q, want %d with %q", code, msg, tt.wantCode, tt.wantErr)
			}
			if code != 200 {
				return
			}
			e := egg("vault")
			k, err := a.client.ReleaseImageKey(ctx(t), &rotapi.ImageKeyRequest{Egg: e, ImageKey: vaultKey.ID, Evidence: good(t, e)})
			if err != nil || !bytes.Equal(k.Key, vaultKey.Key) {
				t.Fatalf("released %v (%v), want the created key", k, err)
			}
		})
	}
	// A revoked Egg gets nothing, evidence or not.
	e := egg("vault")
	ev := good(t, e)
	var info []rotapi.EggInfo
	_ = a.r.Admin.Do(ctx(t), http.MethodGet, rotapi.Path(rotapi.PathEggs, "vault"), nil, &info)
	for _, i := range info {
		_ = a.r.Admin.Do(ctx(t), http.MethodDelete, rotapi.Path(rotapi.PathEgg, i.ID), nil, nil)
	}
	body, _ := json.Marshal(rotapi.ImageKeyRequest{Egg: e, ImageKey: vaultKey.ID, Evidence: ev})
	if code, msg := post(t, a.client, rotapi.PathImageKey, body); code != 403 || !strings.Contains(msg, "revoked") {
		t.Errorf("revoked Egg: %d %q, want 403 revoked", code, msg)
	}
}

// TestImageKeyReleaseBound checks that the image key of a workload bound to a cluster is
// released only with a ServiceAccount token its bindings admit (seal-keyprovider
// --token-file), on top of the Egg and the evidence.
func TestImageKeyReleaseBound(t *testing.T) {
	a := startAttested(t)
	prod := podtokentest.New(t, "https://kubernetes.default.svc.cluster.local", jose.ES256)
	addCluster(t, a.r, "prod", prod)
	a.r.CreateWorkload(t, rotapi.Workload{Name: "bound", Attest: "prod",
		Bindings: []rotapi.Binding{{Cluster: "prod", Namespace: "payments", ServiceAccount: "puller"}}})
	var key rotapi.ImageKey
	if err := a.r.Admin.Do(ctx(t), http.MethodPost, rotapi.Path(rotapi.PathImageKeys, "bound"), rotapi.ImageKeyCreate{}, &key); err != nil {
		t.Fatal(err)
	}
	now := a.clk.Now()
	tests := []struct {
		name     string
		token    string
		wantCode int
		wantErr  string
	}{
		{"no token", "", 401, "token"},
		{"token of another service account", prod.Token(t, now, "payments", "api", "node-1"), 403, "not bound"},
		{"token the binding admits", prod.Token(t, now, "payments", "puller", "node-1"), 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := a.r.MintEgg(t, "bound", rotapi.MintRequest{})
			body, _ := json.Marshal(rotapi.ImageKeyRequest{Egg: e, ImageKey: key.ID, Evidence: a.evidence(t, e, attest.DefaultAKHandle), Token: tt.token})
			code, msg := post(t, a.client, rotapi.PathImageKey, body)
			if code != tt.wantCode || !strings.Contains(msg, tt.wantErr) {
				t.Fatalf("got %d %q, want %d with %q", code, msg, tt.wantCode, tt.wantErr)
			}
			if code != 200 {
				return
			}
			e = a.r.MintEgg(t, "bound", rotapi.MintRequest{})
			k, err := a.client.ReleaseImageKey(ctx(t), &rotapi.ImageKeyRequest{Egg: e, ImageKey: key.ID, Evidence: a.evidence(t, e, attest.DefaultAKHandle), Token: tt.token})
			if err != nil || !bytes.Equal(k.Key, key.Key) {
				t.Fatalf("released %v (%v), want the created key", k, err)
			}
		})
	}
}
