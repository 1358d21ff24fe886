package rot_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/seal-dev/seal/internal/ca"
	"github.com/seal-dev/seal/internal/egg"
	"github.com/seal-dev/seal/internal/rot/rottest"
	"github.com/seal-dev/seal/internal/rotapi"
)

func TestFederatedBundleRefresh(t *testing.T) {
	a := rottest.Start(t, rottest.WithTrustDomain("a.seal.dev"))
	b := rottest.Start(t, rottest.WithTrustDomain("b.seal.dev"))
	resp, err := b.Client(t, nil).HTTP.Get(b.URL + rotapi.PathBundle)
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := io.ReadAll(resp.Body)
	resp.Body.Close()

	for name, fb := range map[string]rotapi.FederatedBundle{
		"http endpoint":         {TrustDomain: "b.seal.dev", Bundle: string(doc), BundleEndpointURL: "http://x/v1/bundle", EndpointProfile: "https_web"},
		"no profile":            {TrustDomain: "b.seal.dev", Bundle: string(doc), BundleEndpointURL: b.URL + rotapi.PathBundle},
		"endpoint ID elsewhere": {TrustDomain: "b.seal.dev", Bundle: string(doc), BundleEndpointURL: b.URL + rotapi.PathBundle, EndpointProfile: "https_spiffe", EndpointSPIFFEID: "spiffe://a.seal.dev/seal/rot"},
	} {
		if err := a.Admin.Do(ctx(t), http.MethodPost, rotapi.PathBundles, fb, nil); statusOf(err) != http.StatusBadRequest {
			t.Errorf("import with %s: got %v, want 400", name, err)
		}
	}
	fb := rotapi.FederatedBundle{
		TrustDomain: "b.seal.dev", Bundle: string(doc),
		BundleEndpointURL: b.URL + rotapi.PathBundle, EndpointProfile: "https_spiffe", EndpointSPIFFEID: "spiffe://b.seal.dev/seal/rot",
	}
	if err := a.Admin.Do(ctx(t), http.MethodPost, rotapi.PathBundles, fb, nil); err != nil {
		t.Fatal(err)
	}
	a.CreateWorkload(t, rotapi.Workload{Name: "w", FederatesWith: []string{"b.seal.dev"}})
	eggText := a.MintEgg(t, "w", rotapi.MintRequest{})
	authorities := func() int {
		t.Helper()
		resp, err := a.Client(t, nil).Redeem(ctx(t), &rotapi.RedeemRequest{Egg: eggText, CSR: csrFor(t, p256(t), nil)})
		if err != nil {
			t.Fatal(err)
		}
		certs, err := ca.ParseCerts([]byte(resp.FederatedBundles["b.seal.dev"]))
		if err != nil {
			t.Fatal(err)
		}
		return len(certs)
	}
	if n := authorities(); n != 1 {
		t.Fatalf("b's bundle has %d authorities before rotation, want 1", n)
	}

	// b rotates its ROT CA; a fetches the new bundle over https_spiffe, authenticating b's
	// endpoint with the bundle it holds.
	if err := b.Server.RotateROTCA(ctx(t)); err != nil {
		t.Fatal(err)
	}
	a.Server.RefreshBundles(ctx(t), true)
	var list []rotapi.FederatedBundle
	if err := a.Admin.Do(ctx(t), http.MethodGet, rotapi.PathBundles, nil, &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].SequenceNumber != 2 || list[0].LastError != "" {
		t.Fatalf("after refresh: %+v, want sequence 2 and no error", list)
	}
	if n := authorities(); n != 2 {
		t.Errorf("b's bundle has %d authorities after its rotation, want old and new", n)
	}

	// An endpoint that answers with another identity is refused; the old bundle stays.
	fb.EndpointSPIFFEID = "spiffe://b.seal.dev/not-the-rot"
	fb.Bundle = list[0].Bundle
	if err := a.Admin.Do(ctx(t), http.MethodPost, rotapi.PathBundles, fb, nil); err != nil {
		t.Fatal(err)
	}
	a.Server.RefreshBundles(ctx(t), true)
	if err := a.Admin.Do(ctx(t), http.MethodGet, rotapi.PathBundles, nil, &list); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(list[0].LastError, "not-the-rot") && !strings.Contains(list[0].LastError, "unexpected ID") {
		t.Errorf("lastError = %q, want a refusal of the endpoint's identity", list[0].LastError)
	}
	if n := authorities(); n != 2 {
		t.Errorf("after a failed refresh b's bundle has %d authorities, want the 2 it had", n)
	}
}

func TestEggsSurviveROTCARotation(t *testing.T) {
	clk := &clock{t: time.Now()}
	r := rottest.Start(t, rottest.WithClock(clk.Now))
	r.CreateWorkload(t, rotapi.Workload{Name: "w"})
	oldEgg := r.MintEgg(t, "w", rotapi.MintRequest{TTL: "9000h"})
	if err := r.Server.RotateROTCA(ctx(t)); err != nil {
		t.Fatal(err)
	}
	newEgg := r.MintEgg(t, "w", rotapi.MintRequest{TTL: "9000h"})
	// Eight days on, the serving certificate has been renewed; pods holding the old Egg only
	// trust the old ROT CA, those with the new one trust both.
	clk.Advance(8 * 24 * time.Hour)
	for name, text := range map[string]string{"egg minted before the rotation": oldEgg, "egg minted after": newEgg} {
		o, err := egg.Parse(text)
		if err != nil {
			t.Fatal(err)
		}
		c, err := rotapi.NewClient(o.ROT, []byte(o.ROTCA), nil)
		if err != nil {
			t.Fatal(err)
		}
		c.HTTP.Transport.(*http.Transport).TLSClientConfig.Time = clk.Now
		if _, err := c.Redeem(ctx(t), &rotapi.RedeemRequest{Egg: text, CSR: csrFor(t, p256(t), nil)}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		c.HTTP.CloseIdleConnections()
	}
}

func TestEggKeyRotation(t *testing.T) {
	r := rottest.Start(t)
	r.CreateWorkload(t, rotapi.Workload{Name: "w"})
	before := r.MintEgg(t, "w", rotapi.MintRequest{})
	kid, err := r.Server.RotateEggKey(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	after := r.MintEgg(t, "w", rotapi.MintRequest{})
	ob, _ := egg.Parse(before)
	oa, _ := egg.Parse(after)
	if oa.KeyID != kid || ob.KeyID == kid {
		t.Errorf("kids: before %s, after %s, rotated to %s", ob.KeyID, oa.KeyID, kid)
	}
	c := r.Client(t, nil)
	for name, text := range map[string]string{"egg sealed under the old key": before, "egg sealed under the new key": after} {
		if _, err := c.Redeem(ctx(t), &rotapi.RedeemRequest{Egg: text, CSR: csrFor(t, p256(t), nil)}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if a := authority(t, r); a.EggKeys.Current != kid || len(a.EggKeys.Keys) != 2 {
		t.Errorf("stored keyring: current %s with %d keys, want %s with 2", a.EggKeys.Current, len(a.EggKeys.Keys), kid)
	}
}
