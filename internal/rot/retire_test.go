package rot_test

import (
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/seal-dev/seal/internal/ca"
	"github.com/seal-dev/seal/internal/egg"
	"github.com/seal-dev/seal/internal/rot"
	"github.com/seal-dev/seal/internal/rotapi"
)

func listCAs(t *testing.T, c *rotapi.Client) []rotapi.CA {
	t.Helper()
	var out []rotapi.CA
	if err := c.Do(ctx(t), http.MethodGet, rotapi.PathCAs, nil, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func fingerprints(cas []rotapi.CA, kind string, current bool) []string {
	var out []string
	for _, c := range cas {
		if c.Kind == kind && c.Current == current {
			out = append(out, c.Fingerprint)
		}
	}
	return out
}

// bundleFingerprints are the X.509 authorities /v1/bundle serves.
func bundleFingerprints(t *testing.T, a *adminROT, c *rotapi.Client) ([]string, uint64) {
	t.Helper()
	resp, err := c.HTTP.Get(a.URL + rotapi.PathBundle)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := spiffebundle.Read(spiffeid.RequireTrustDomainFromString(a.TrustDomain), resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range b.X509Authorities() {
		out = append(out, ca.Fingerprint(c))
	}
	seq, _ := b.SequenceNumber()
	return out, seq
}

// TestRotateAndRetireCAs walks SPIRE's prepare/activate/taint/revoke over the admin API with a
// moved clock: rotate the ROT CA (and with it every Workload CA), then retire the old one.
func TestRotateAndRetireCAs(t *testing.T) {
	a := startAdminROT(t)
	a.CreateWorkload(t, rotapi.Workload{Name: "pay"})
	admin := a.Admin
	before := listCAs(t, admin)
	oldRoot, oldPay := fingerprints(before, rotapi.CAKindROT, true), fingerprints(before, rotapi.CAKindWorkload, true)
	if len(oldRoot) != 1 || len(oldPay) != 1 || len(before) != 2 {
		t.Fatalf("CAs at start: %+v", before)
	}
	oldEgg := a.MintEggInfo(t, "pay", rotapi.MintRequest{})

	a.clock.Add(time.Hour) // clients check the serving certificate with the real clock: move little
	var rotated rotapi.RotateResponse
	// --now: the new Workload CA signs at once (activation_test.go covers the published step).
	if err := admin.Do(ctx(t), http.MethodPost, rotapi.PathRotateROTCA+"?now=true", nil, &rotated); err != nil {
		t.Fatal(err)
	}
	if len(rotated.Created) != 2 || rotated.Created[0].Kind != rotapi.CAKindROT || rotated.Created[1].Workload != "pay" || rotated.Created[1].Issuer != rotated.Created[0].Fingerprint {
		t.Fatalf("rotate rot-ca created %+v, want a ROT CA and pay's Workload CA under it", rotated.Created)
	}
	newRoot := rotated.Created[0].Fingerprint
	after := listCAs(t, admin)
	if got := fingerprints(after, rotapi.CAKindROT, false); !slices.Equal(got, oldRoot) {
		t.Errorf("old ROT CA after rotation: %v, want %v kept but not current", got, oldRoot)
	}
	if got, _ := bundleFingerprints(t, a, admin); len(got) != 2 {
		t.Errorf("bundle during the overlap has %d authorities, want 2", len(got))
	}

	retire := func(c *rotapi.Client, fp string) (rotapi.RetireResponse, error) {
		var out rotapi.RetireResponse
		err := c.Do(ctx(t), http.MethodDelete, rotapi.Path(rotapi.PathCA, fp), nil, &out)
		return out, err
	}
	for _, tc := range []struct {
		name, fp string
		code     int
		want     string
	}{
		{"the current ROT CA", newRoot, http.StatusConflict, "rotate rot-ca first"},
		{"the ROT CA that signed the caller's admin certificate", oldRoot[0], http.StatusConflict, "signed your admin certificate"},
		{"the current Workload CA", rotated.Created[1].Fingerprint[:16], http.StatusConflict, "rotate workload-ca pay first"},
		{"a too short prefix", oldRoot[0][:8], http.StatusBadRequest, "too short"},
		{"an unknown CA", strings.Repeat("ab", 32), http.StatusNotFound, "no CA"},
	} {
		_, err := retire(admin, tc.fp)
		if statusOf(err) != tc.code || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("retiring %s: %v, want %d naming %q", tc.name, err, tc.code, tc.want)
		}
	}

	// Admin credentials from the current ROT CA may retire the old one.
	dir, _, err := a.change(t, rot.AdminChange{})
	if err != nil {
		t.Fatal(err)
	}
	admin2 := a.adminClient(t, dir)
	a.clock.Add(time.Hour)
	_, seqBefore := bundleFingerprints(t, a, admin2)
	out, err := retire(admin2, oldRoot[0][:20])
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Retired) != 2 || out.Retired[0].Fingerprint != oldRoot[0] || out.Retired[1].Fingerprint != oldPay[0] {
		t.Errorf("retired %+v, want the old ROT CA and pay's Workload CA it signed", out.Retired)
	}
	got, seq := bundleFingerprints(t, a, admin2)
	if !slices.Equal(got, []string{newRoot}) || seq <= seqBefore || out.BundleSequence != seq {
		t.Errorf("/v1/bundle after retiring: %v seq %d (was %d, answer %d), want only %s and a higher sequence", got, seq, seqBefore, out.BundleSequence, newRoot)
	}
	if cas := listCAs(t, admin2); len(cas) != 2 {
		t.Errorf("CAs after retiring: %+v, want the new ROT CA and pay's new Workload CA", cas)
	}
	// Pods get a trust bundle without the retired Workload CA.
	var minted rotapi.MintResponse
	if err := admin2.Do(ctx(t), http.MethodPost, rotapi.Path(rotapi.PathEggs, "pay"), rotapi.MintRequest{}, &minted); err != nil {
		t.Fatal(err)
	}
	newEgg := minted.Egg
	cpem, _ := os.ReadFile(filepath.Join(dir, rot.AdminCAFile))
	pod, err := rotapi.NewClient(a.URL, cpem, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pod.HTTP.CloseIdleConnections()
	res, err := pod.Redeem(ctx(t), &rotapi.RedeemRequest{Egg: newEgg, CSR: csrFor(t, p256(t), nil)})
	if err != nil {
		t.Fatalf("redeeming after the retirement (the serving certificate must chain to the new ROT CA): %v", err)
	}
	bundle, _ := ca.ParseCerts([]byte(res.TrustBundle))
	if len(bundle) != 1 || ca.Fingerprint(bundle[0]) != rotated.Created[1].Fingerprint {
		t.Errorf("trust bundle after retiring holds %d CAs, want only pay's new Workload CA", len(bundle))
	}
	// The serving certificate no longer chains to the retired ROT CA: an Egg that carries only it
	// cannot reach the ROT.
	oldOnly, err := rotapi.NewClient(a.URL, []byte(mustRotCA(t, oldEgg.Egg)), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer oldOnly.HTTP.CloseIdleConnections()
	if err := oldOnly.Do(ctx(t), http.MethodGet, rotapi.PathHealthz, nil, nil); err == nil {
		t.Error("a client trusting only the retired ROT CA still verifies the ROT")
	}
	// The old admin certificate was signed by the retired CA: refused now.
	if err := admin.Do(ctx(t), http.MethodGet, rotapi.PathWorkloads, nil, nil); err == nil {
		t.Error("admin certificate of the retired ROT CA still accepted")
	}
	if err := a.Server.Reload(ctx(t)); err != nil {
		t.Fatalf("reloading the state after retiring: %v", err)
	}
}

func mustRotCA(t *testing.T, text string) string {
	t.Helper()
	e, err := egg.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	return e.ROTCA
}

// TestRotateWorkloadCAAndEggKeyAPI: the admin API rotates one Workload CA and the egg key; a
// non-current Workload CA can then be retired on its own.
func TestRotateWorkloadCAAndEggKeyAPI(t *testing.T) {
	a := startAdminROT(t)
	a.CreateWorkload(t, rotapi.Workload{Name: "pay"})
	old := fingerprints(listCAs(t, a.Admin), rotapi.CAKindWorkload, true)
	a.clock.Add(time.Hour)
	var rotated rotapi.RotateResponse
	if err := a.Admin.Do(ctx(t), http.MethodPost, rotapi.Path(rotapi.PathRotateWorkloadCA, "pay")+"?now=true", nil, &rotated); err != nil {
		t.Fatal(err)
	}
	if len(rotated.Created) != 1 || rotated.Created[0].Fingerprint == old[0] || !rotated.Created[0].Current {
		t.Errorf("rotate workload-ca: %+v", rotated)
	}
	if err := a.Admin.Do(ctx(t), http.MethodPost, rotapi.Path(rotapi.PathRotateWorkloadCA, "nope"), nil, nil); statusOf(err) != http.StatusNotFound {
		t.Errorf("rotating an unknown workload: %v, want 404", err)
	}
	var out rotapi.RetireResponse
	if err := a.Admin.Do(ctx(t), http.MethodDelete, rotapi.Path(rotapi.PathCA, old[0]), nil, &out); err != nil || len(out.Retired) != 1 {
		t.Fatalf("retiring the old Workload CA: %+v %v", out, err)
	}
	if got := fingerprints(listCAs(t, a.Admin), rotapi.CAKindWorkload, false); len(got) != 0 {
		t.Errorf("old Workload CA still listed: %v", got)
	}

	var k rotapi.EggKeyResponse
	if err := a.Admin.Do(ctx(t), http.MethodPost, rotapi.PathRotateEggKey, nil, &k); err != nil || k.KeyID == "" {
		t.Fatalf("rotate egg-key: %+v %v", k, err)
	}
	e, err := egg.Parse(a.MintEgg(t, "pay", rotapi.MintRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if e.KeyID != k.KeyID {
		t.Errorf("Egg minted after the rotation is sealed with %q, want %q", e.KeyID, k.KeyID)
	}
}
