package rot_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/seal-dev/seal/internal/rot/rottest"
	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/store"
)

// TestDrain: a drained ROT answers every admin change 409 with the drain's reason and what to
// do, keeps serving reads, redemption and its bundle, keeps the drain in its stored authority,
// and takes changes again once resumed.
func TestDrain(t *testing.T) {
	f, err := store.OpenFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := rottest.Start(t, rottest.WithStore(f))
	r.CreateWorkload(t, rotapi.Workload{Name: "payments", Peers: []string{"api"}})
	minted := r.MintEggInfo(t, "payments", rotapi.MintRequest{Peer: "api"})

	var st rotapi.DrainStatus
	if err := r.Admin.Do(ctx(t), http.MethodPost, rotapi.PathDrain, rotapi.DrainRequest{Reason: "moving to the cluster"}, &st); err != nil {
		t.Fatal(err)
	}
	if !st.Drained || st.Reason != "moving to the cluster" || st.Since == nil || !strings.Contains(st.By, "serial=") {
		t.Errorf("drain answered %+v, want drained with the reason, time and admin", st)
	}
	stored, err := f.Load(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if d := stored.Authority.Drained; d == nil || d.Reason != "moving to the cluster" {
		t.Errorf("stored authority's drain = %+v, want the drain (every replica and restart must see it)", d)
	}

	for _, call := range []struct {
		name, method, path string
		body               any
	}{
		{"create workload", http.MethodPost, rotapi.PathWorkloads, rotapi.Workload{Name: "billing"}},
		{"delete workload", http.MethodDelete, rotapi.Path(rotapi.PathWorkload, "payments"), nil},
		{"mint egg", http.MethodPost, rotapi.Path(rotapi.PathEggs, "payments"), rotapi.MintRequest{}},
		{"revoke egg", http.MethodDelete, rotapi.Path(rotapi.PathEgg, minted.ID), nil},
		{"rotate data key", http.MethodPost, rotapi.Path(rotapi.PathKeys, "payments"), nil},
		{"rotate ROT CA", http.MethodPost, rotapi.PathRotateROTCA, nil},
		{"import bundle", http.MethodPost, rotapi.PathBundles, rotapi.FederatedBundle{TrustDomain: "partner.example"}},
	} {
		t.Run(call.name, func(t *testing.T) {
			err := r.Admin.Do(ctx(t), call.method, call.path, call.body, nil)
			var se *rotapi.StatusError
			if !errors.As(err, &se) || se.Code != http.StatusConflict {
				t.Fatalf("got %v, want 409 Conflict", err)
			}
			for _, want := range []string{"drained since", "moving to the cluster", "sealctl rot resume", "redemption"} {
				if !strings.Contains(se.Message, want) {
					t.Errorf("message %q lacks %q", se.Message, want)
				}
			}
		})
	}
	after, _ := f.Load(ctx(t))
	if len(after.Workloads) != 1 || len(after.Eggs) != 1 || after.Eggs[minted.ID].Revoked {
		t.Errorf("a refused change was stored: %d workloads, eggs %v", len(after.Workloads), after.Eggs)
	}

	// Reads, redemption and the bundle go on.
	if err := r.Admin.Do(ctx(t), http.MethodGet, rotapi.PathWorkloads, nil, &[]rotapi.Workload{}); err != nil {
		t.Errorf("listing workloads while drained: %v", err)
	}
	if _, err := r.Client(t, nil).Redeem(ctx(t), &rotapi.RedeemRequest{Egg: minted.Egg, CSR: csrFor(t, p256(t), nil)}); err != nil {
		t.Errorf("redeeming while drained: %v", err)
	}
	var doc json.RawMessage
	if err := r.Client(t, nil).Do(ctx(t), http.MethodGet, rotapi.PathBundle, nil, &doc); err != nil {
		t.Errorf("GET /v1/bundle while drained: %v", err)
	}

	// Resume.
	if err := r.Admin.Do(ctx(t), http.MethodDelete, rotapi.PathDrain, nil, &st); err != nil || st.Drained {
		t.Fatalf("resume: %+v, %v", st, err)
	}
	r.MintEgg(t, "payments", rotapi.MintRequest{Peer: "api"})
	if stored, _ := f.Load(ctx(t)); stored.Authority.Drained != nil {
		t.Error("the stored authority is still drained after resume")
	}
}

func TestDrainReasonChecked(t *testing.T) {
	r := rottest.Start(t)
	for name, reason := range map[string]string{"too long": strings.Repeat("x", rotapi.MaxDrainReason+1), "control character": "a\x1b[31mb"} {
		t.Run(name, func(t *testing.T) {
			err := r.Admin.Do(ctx(t), http.MethodPost, rotapi.PathDrain, rotapi.DrainRequest{Reason: reason}, nil)
			var se *rotapi.StatusError
			if !errors.As(err, &se) || se.Code != http.StatusBadRequest || !strings.Contains(se.Message, "reason") {
				t.Errorf("got %v, want 400 naming the reason", err)
			}
		})
	}
}
