package rot_test

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/seal-dev/seal/internal/ca"
	"github.com/seal-dev/seal/internal/rotapi"
)

// issuedBy redeems a fresh Egg of workload and returns the fingerprint of the Workload CA that
// signed the leaf and the fingerprints of the ca.crt (trust bundle) it came with.
func issuedBy(t *testing.T, a *adminROT, workload string) (string, []string) {
	t.Helper()
	resp := redeem(t, a.ROT, a.MintEgg(t, workload, rotapi.MintRequest{}))
	chain, err := ca.ParseCerts([]byte(resp.Certificate))
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := ca.ParseCerts([]byte(resp.TrustBundle))
	if err != nil {
		t.Fatal(err)
	}
	var fps []string
	for _, c := range bundle {
		fps = append(fps, (&ca.CA{Cert: c}).Fingerprint())
	}
	return (&ca.CA{Cert: chain[1]}).Fingerprint(), fps
}

// TestRotatedWorkloadCAIsPublishedBeforeItSigns: sealctl rotate workload-ca puts the new CA
// into every ca.crt at once, but the old one keeps signing for one certificate TTL, by which
// every pod has renewed and trusts the new one; then the new one signs. --now switches at once.
func TestRotatedWorkloadCAIsPublishedBeforeItSigns(t *testing.T) {
	a := startAdminROT(t)
	a.CreateWorkload(t, rotapi.Workload{Name: "pay", CertTTL: "1h"})
	old := fingerprints(listCAs(t, a.Admin), rotapi.CAKindWorkload, true)[0]
	a.clock.Add(time.Minute)
	var rotated rotapi.RotateResponse
	if err := a.Admin.Do(ctx(t), http.MethodPost, rotapi.Path(rotapi.PathRotateWorkloadCA, "pay"), nil, &rotated); err != nil {
		t.Fatal(err)
	}
	next := rotated.Created[0]
	wantFrom := a.clock.Now().Add(time.Hour)
	if next.Current || next.SignsFrom == nil || !next.SignsFrom.Equal(wantFrom.UTC()) {
		t.Fatalf("rotate workload-ca answered current %v signsFrom %v, want false and %s (one certTTL later)", next.Current, next.SignsFrom, wantFrom.UTC())
	}

	signer, bundle := issuedBy(t, a, "pay")
	if signer != old {
		t.Errorf("right after the rotation the leaf is signed by %s, want the old CA %s (the new one only published)", signer, old)
	}
	if !slices.Contains(bundle, next.Fingerprint) || !slices.Contains(bundle, old) {
		t.Errorf("ca.crt right after the rotation holds %v, want both the old %s and the new %s", bundle, old, next.Fingerprint)
	}
	if got := fingerprints(listCAs(t, a.Admin), rotapi.CAKindWorkload, true); !slices.Equal(got, []string{old}) {
		t.Errorf("ca list current before activation: %v, want the old CA %s", got, old)
	}
	if err := a.Admin.Do(ctx(t), http.MethodDelete, rotapi.Path(rotapi.PathCA, old), nil, nil); statusOf(err) != http.StatusConflict {
		t.Errorf("retiring the CA that still signs: %v, want 409", err)
	}

	a.clock.Add(time.Hour - time.Second)
	if signer, _ := issuedBy(t, a, "pay"); signer != old {
		t.Errorf("a second before activation the leaf is signed by %s, want the old CA", signer)
	}
	a.clock.Add(time.Second)
	if signer, _ := issuedBy(t, a, "pay"); signer != next.Fingerprint {
		t.Errorf("at activation the leaf is signed by %s, want the new CA %s", signer, next.Fingerprint)
	}
	if got := fingerprints(listCAs(t, a.Admin), rotapi.CAKindWorkload, true); !slices.Equal(got, []string{next.Fingerprint}) {
		t.Errorf("ca list current after activation: %v, want %s", got, next.Fingerprint)
	}
	if err := a.Admin.Do(ctx(t), http.MethodDelete, rotapi.Path(rotapi.PathCA, old), nil, nil); err != nil {
		t.Errorf("retiring the old CA once the new one signs: %v", err)
	}

	// A compromised key: --now makes the new CA sign at once.
	a.clock.Add(time.Minute)
	rotated = rotapi.RotateResponse{}
	if err := a.Admin.Do(ctx(t), http.MethodPost, rotapi.Path(rotapi.PathRotateWorkloadCA, "pay")+"?now=true", nil, &rotated); err != nil {
		t.Fatal(err)
	}
	if now := rotated.Created[0]; !now.Current || now.SignsFrom != nil {
		t.Errorf("rotate workload-ca --now answered current %v signsFrom %v, want true and none", now.Current, now.SignsFrom)
	}
	if signer, _ := issuedBy(t, a, "pay"); signer != rotated.Created[0].Fingerprint {
		t.Errorf("after --now the leaf is signed by %s, want the new CA %s", signer, rotated.Created[0].Fingerprint)
	}
}

// TestAutomaticRotationWaitsForThePublishedCA: the hourly rotation publishes one successor and
// does not stack more while it waits to sign; a restart (a second replica) keeps the schedule.
func TestAutomaticRotationWaitsForThePublishedCA(t *testing.T) {
	a := startAdminROT(t)
	a.CreateWorkload(t, rotapi.Workload{Name: "pay", CertTTL: "1h"})
	old := fingerprints(listCAs(t, a.Admin), rotapi.CAKindWorkload, true)[0]
	var first rotapi.RotateResponse
	if err := a.Admin.Do(ctx(t), http.MethodPost, rotapi.Path(rotapi.PathRotateWorkloadCA, "pay"), nil, &first); err != nil {
		t.Fatal(err)
	}
	a.clock.Add(30 * time.Minute)
	for range 2 {
		if err := a.Server.Rotate(ctx(t)); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Server.Reload(ctx(t)); err != nil { // as another replica loads the stored state
		t.Fatal(err)
	}
	cas := listCAs(t, a.Admin)
	if n := len(fingerprints(cas, rotapi.CAKindWorkload, false)) + len(fingerprints(cas, rotapi.CAKindWorkload, true)); n != 2 {
		t.Errorf("%d Workload CAs after the automatic rotation, want 2 (no successor while one waits)", n)
	}
	if signer, _ := issuedBy(t, a, "pay"); signer != old {
		t.Errorf("after a reload, before activation, the leaf is signed by %s, want the old CA", signer)
	}
	a.clock.Add(30 * time.Minute)
	if signer, _ := issuedBy(t, a, "pay"); signer != first.Created[0].Fingerprint {
		t.Errorf("at activation (after a reload) the leaf is signed by %s, want %s", signer, first.Created[0].Fingerprint)
	}
}
