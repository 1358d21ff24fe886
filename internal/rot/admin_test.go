package rot_test

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/seal-dev/seal/internal/ca"
	"github.com/seal-dev/seal/internal/rot/rottest"
	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/store"
)

func statusOf(err error) int {
	var se *rotapi.StatusError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

func TestWorkloadLifecycle(t *testing.T) {
	r := rottest.Start(t)
	created := r.CreateWorkload(t, rotapi.Workload{Name: "payments", Peers: []string{"api"}})
	if created.CAFingerprint == "" || created.Created.IsZero() {
		t.Errorf("created workload lacks CA fingerprint or creation time: %+v", created)
	}
	r.CreateWorkload(t, rotapi.Workload{Name: "billing"})
	if err := r.Admin.Do(ctx(t), http.MethodPost, rotapi.PathWorkloads, rotapi.Workload{Name: "payments"}, nil); statusOf(err) != http.StatusConflict {
		t.Errorf("creating an existing workload: got %v, want 409", err)
	}
	for name, w := range map[string]rotapi.Workload{
		"bad name":         {Name: "Payments_1"},
		"bad peer":         {Name: "x", Peers: []string{"a/b"}},
		"bad certTTL":      {Name: "x", CertTTL: "forever"},
		"own trust domain": {Name: "x", FederatesWith: []string{"test.seal.dev"}},
		"bad route host":   {Name: "x", RouteHosts: []string{"-bad-.example.com"}},
	} {
		if err := r.Admin.Do(ctx(t), http.MethodPost, rotapi.PathWorkloads, w, nil); statusOf(err) != http.StatusBadRequest {
			t.Errorf("%s: got %v, want 400", name, err)
		}
	}
	var list []rotapi.Workload
	if err := r.Admin.Do(ctx(t), http.MethodGet, rotapi.PathWorkloads, nil, &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "billing" || list[1].Name != "payments" {
		t.Errorf("list = %+v, want billing, payments", list)
	}

	// Eggs: mint, list, peer checks; deleting the workload revokes its eggs.
	if err := r.Admin.Do(ctx(t), http.MethodPost, rotapi.Path(rotapi.PathEggs, "payments"), rotapi.MintRequest{Peer: "db"}, nil); statusOf(err) != http.StatusBadRequest {
		t.Errorf("minting for a peer not in the workload: got %v, want 400", err)
	}
	m := r.MintEggInfo(t, "payments", rotapi.MintRequest{Peer: "api", TTL: "2h"})
	var eggs []rotapi.EggInfo
	if err := r.Admin.Do(ctx(t), http.MethodGet, rotapi.Path(rotapi.PathEggs, "payments"), nil, &eggs); err != nil {
		t.Fatal(err)
	}
	if len(eggs) != 1 || eggs[0].ID != m.ID || eggs[0].Peer != "api" || eggs[0].Revoked {
		t.Errorf("eggs = %+v, want the one minted (%s)", eggs, m.ID)
	}
	if err := r.Admin.Do(ctx(t), http.MethodDelete, rotapi.Path(rotapi.PathWorkload, "payments"), nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := r.Admin.Do(ctx(t), http.MethodGet, rotapi.Path(rotapi.PathWorkload, "payments"), nil, nil); statusOf(err) != http.StatusNotFound {
		t.Errorf("get deleted workload: got %v, want 404", err)
	}
	r.CreateWorkload(t, rotapi.Workload{Name: "payments", Peers: []string{"api"}})
	_, err := r.Client(t, nil).Redeem(ctx(t), &rotapi.RedeemRequest{Egg: m.Egg, CSR: csrFor(t, p256(t), nil)})
	if statusOf(err) != http.StatusForbidden || !strings.Contains(err.Error(), "revoked") {
		t.Errorf("egg of a deleted and re-created workload: got %v, want 403 revoked", err)
	}
	if err := r.Admin.Do(ctx(t), http.MethodDelete, rotapi.Path(rotapi.PathEgg, "egg-nope"), nil, nil); statusOf(err) != http.StatusNotFound {
		t.Errorf("revoking an unknown egg: got %v, want 404", err)
	}
}

func TestDataKeyRotation(t *testing.T) {
	r := rottest.Start(t)
	r.CreateWorkload(t, rotapi.Workload{Name: "w"})
	var k0, k1, cur rotapi.KeysResponse
	if err := r.Admin.Do(ctx(t), http.MethodGet, rotapi.Path(rotapi.PathKeys, "w"), nil, &k0); err != nil {
		t.Fatal(err)
	}
	if err := r.Admin.Do(ctx(t), http.MethodPost, rotapi.Path(rotapi.PathKeys, "w"), nil, &k1); err != nil {
		t.Fatal(err)
	}
	if err := r.Admin.Do(ctx(t), http.MethodGet, rotapi.Path(rotapi.PathKeys, "w"), nil, &cur); err != nil {
		t.Fatal(err)
	}
	if k0.Index != 0 || k1.Index != 1 || cur != k1 || k0.Recipient == k1.Recipient {
		t.Fatalf("keys: before %+v, rotated %+v, current %+v", k0, k1, cur)
	}
	resp, err := r.Client(t, nil).Redeem(ctx(t), &rotapi.RedeemRequest{Egg: r.MintEgg(t, "w", rotapi.MintRequest{}), CSR: csrFor(t, p256(t), nil)})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.DataKeys) != 2 || resp.DataKeys[0].ID != "w-1" || resp.DataKeys[1].ID != "w-0" {
		t.Fatalf("data keys = %+v, want w-1 then w-0", resp.DataKeys)
	}
	// Data sealed to the old recipient still opens with the pod's identities.
	for i, want := range []string{k1.Recipient, k0.Recipient} {
		id, err := age.ParseX25519Identity(resp.DataKeys[i].Identity)
		if err != nil {
			t.Fatal(err)
		}
		if got := id.Recipient().String(); got != want {
			t.Errorf("data key %d recipient %s, want %s", i, got, want)
		}
	}
}

func TestExternalClientCert(t *testing.T) {
	r := rottest.Start(t)
	r.CreateWorkload(t, rotapi.Workload{Name: "w", Peers: []string{"ci"}})
	var out rotapi.CertResponse
	if err := r.Admin.Do(ctx(t), http.MethodPost, rotapi.Path(rotapi.PathCert, "w"), rotapi.CertRequest{Peer: "ci", CSR: csrFor(t, p256(t), nil), TTL: "1h"}, &out); err != nil {
		t.Fatal(err)
	}
	certs, err := ca.ParseCerts([]byte(out.Certificate))
	if err != nil {
		t.Fatal(err)
	}
	if out.SPIFFEID != "spiffe://test.seal.dev/workload/w/peer/ci" || certs[0].URIs[0].String() != out.SPIFFEID {
		t.Errorf("spiffeID %q, leaf URIs %v", out.SPIFFEID, certs[0].URIs)
	}
	if err := r.Admin.Do(ctx(t), http.MethodPost, rotapi.Path(rotapi.PathCert, "w"), rotapi.CertRequest{Peer: "other", CSR: csrFor(t, p256(t), nil)}, nil); statusOf(err) != http.StatusBadRequest {
		t.Errorf("cert for a peer not in the workload: got %v, want 400", err)
	}
}

func TestWorkloadCARotationOverlap(t *testing.T) {
	r := rottest.Start(t)
	r.CreateWorkload(t, rotapi.Workload{Name: "w"})
	eggText := r.MintEgg(t, "w", rotapi.MintRequest{})
	c := r.Client(t, nil)
	before, err := c.Redeem(ctx(t), &rotapi.RedeemRequest{Egg: eggText, CSR: csrFor(t, p256(t), nil)})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Server.RotateWorkloadCA(ctx(t), "w"); err != nil {
		t.Fatal(err)
	}
	after, err := c.Redeem(ctx(t), &rotapi.RedeemRequest{Egg: eggText, CSR: csrFor(t, p256(t), nil)})
	if err != nil {
		t.Fatal(err)
	}
	bundle, _ := ca.ParseCerts([]byte(after.TrustBundle))
	if len(bundle) != 2 {
		t.Fatalf("trust bundle after rotation has %d CAs, want old and new", len(bundle))
	}
	pool := x509.NewCertPool()
	for _, b := range bundle {
		pool.AddCert(b)
	}
	for name, pemChain := range map[string]string{"leaf from the old CA": before.Certificate, "leaf from the new CA": after.Certificate} {
		chain, _ := ca.ParseCerts([]byte(pemChain))
		if _, err := chain[0].Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			t.Errorf("%s does not verify against the overlapping bundle: %v", name, err)
		}
	}
	oldChain, _ := ca.ParseCerts([]byte(before.Certificate))
	newChain, _ := ca.ParseCerts([]byte(after.Certificate))
	if oldChain[1].Equal(newChain[1]) {
		t.Error("new leaf is still signed by the old Workload CA")
	}
}

func TestBundleExportImportFederation(t *testing.T) {
	a := rottest.Start(t, rottest.WithTrustDomain("a.seal.dev"))
	b := rottest.Start(t, rottest.WithTrustDomain("b.seal.dev"))
	// b's bundle, from its public endpoint, as a SPIFFE bundle document.
	resp, err := b.Client(t, nil).HTTP.Get(b.URL + rotapi.PathBundle)
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	sb, err := spiffebundle.Parse(spiffeid.RequireTrustDomainFromString("b.seal.dev"), doc)
	if err != nil {
		t.Fatalf("/v1/bundle is not a SPIFFE bundle: %v\n%s", err, doc)
	}
	if hint, ok := sb.RefreshHint(); !ok || hint <= 0 {
		t.Errorf("bundle refresh hint %v %v", hint, ok)
	}
	if seq, ok := sb.SequenceNumber(); !ok || seq < 1 {
		t.Errorf("bundle sequence %v %v", seq, ok)
	}
	var exported json.RawMessage
	if err := b.Admin.Do(ctx(t), http.MethodGet, rotapi.PathExport, nil, &exported); err != nil {
		t.Fatal(err)
	}
	if _, err := spiffebundle.Parse(spiffeid.RequireTrustDomainFromString("b.seal.dev"), exported); err != nil {
		t.Errorf("admin export is not a SPIFFE bundle: %v", err)
	}

	for name, fb := range map[string]rotapi.FederatedBundle{
		"not a bundle":     {TrustDomain: "b.seal.dev", Bundle: "{}"},
		"garbage":          {TrustDomain: "b.seal.dev", Bundle: "not json"},
		"own trust domain": {TrustDomain: "a.seal.dev", Bundle: string(doc)},
		"bad trust domain": {TrustDomain: "B!", Bundle: string(doc)},
	} {
		if err := a.Admin.Do(ctx(t), http.MethodPost, rotapi.PathBundles, fb, nil); statusOf(err) != http.StatusBadRequest {
			t.Errorf("import %s: got %v, want 400", name, err)
		}
	}
	var imported rotapi.FederatedBundle
	if err := a.Admin.Do(ctx(t), http.MethodPost, rotapi.PathBundles, rotapi.FederatedBundle{TrustDomain: "b.seal.dev", Bundle: string(exported)}, &imported); err != nil {
		t.Fatal(err)
	}
	if imported.SequenceNumber < 1 || imported.LastRefreshed == nil {
		t.Errorf("imported = %+v, want sequence and lastRefreshed", imported)
	}
	var list []rotapi.FederatedBundle
	if err := a.Admin.Do(ctx(t), http.MethodGet, rotapi.PathBundles, nil, &list); err != nil || len(list) != 1 {
		t.Fatalf("bundles list = %+v, %v", list, err)
	}

	a.CreateWorkload(t, rotapi.Workload{Name: "w", FederatesWith: []string{"b.seal.dev", "c.seal.dev"}})
	a.CreateWorkload(t, rotapi.Workload{Name: "lonely"})
	c := a.Client(t, nil)
	for _, tt := range []struct {
		name, workload string
		want           []string
		narrow         []string
	}{
		{"federating workload", "w", []string{"b.seal.dev"}, nil},
		{"narrowed by the pod", "w", nil, []string{"c.seal.dev"}},
		{"workload that does not federate", "lonely", nil, []string{"b.seal.dev"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := c.Redeem(ctx(t), &rotapi.RedeemRequest{Egg: a.MintEgg(t, tt.workload, rotapi.MintRequest{}), CSR: csrFor(t, p256(t), nil), FederatesWith: tt.narrow})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for td := range resp.FederatedBundles {
				got = append(got, td)
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("federated bundles for %v, want %v", got, tt.want)
			}
			if p, ok := resp.FederatedBundles["b.seal.dev"]; ok && p != string(b.CAPEM) {
				t.Errorf("b's bundle PEM differs from b's ROT CA")
			}
		})
	}
}

func TestHealthReadyMetrics(t *testing.T) {
	r := rottest.Start(t)
	r.CreateWorkload(t, rotapi.Workload{Name: "w"})
	c := r.Client(t, nil)
	if _, err := c.Redeem(ctx(t), &rotapi.RedeemRequest{Egg: r.MintEgg(t, "w", rotapi.MintRequest{}), CSR: csrFor(t, p256(t), nil)}); err != nil {
		t.Fatal(err)
	}
	_, _ = c.Redeem(ctx(t), &rotapi.RedeemRequest{Egg: "seal-egg-v1.xx", CSR: "x"})
	for _, p := range []string{rotapi.PathHealthz, rotapi.PathReadyz} {
		if err := c.Do(ctx(t), http.MethodGet, p, nil, nil); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	resp, err := c.HTTP.Get(r.URL + rotapi.PathMetrics)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`seal_rot_redemptions_total{result="ok"} 1`,
		`seal_rot_redemptions_total{result="malformed"} 1`,
		`seal_rot_issuances_total{kind="pod"} 1`,
		`seal_rot_redeem_duration_seconds_count 1`,
		`seal_rot_http_request_duration_seconds_count{route="/v1/redeem"} 2`,
		`seal_rot_admin_actions_total{action="egg-mint"} 1`,
		`seal_rot_workloads 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestTimedWorkloadCARotation(t *testing.T) {
	clk := &clock{t: time.Now()}
	r := rottest.Start(t, rottest.WithClock(clk.Now))
	r.CreateWorkload(t, rotapi.Workload{Name: "w"})
	eggText := r.MintEgg(t, "w", rotapi.MintRequest{TTL: "9000h"})
	c := r.Client(t, nil)
	c.HTTP.Transport.(*http.Transport).TLSClientConfig.Time = clk.Now // the serving cert follows the ROT's clock
	bundleSize := func() int {
		t.Helper()
		resp, err := c.Redeem(ctx(t), &rotapi.RedeemRequest{Egg: eggText, CSR: csrFor(t, p256(t), nil)})
		if err != nil {
			t.Fatal(err)
		}
		certs, _ := ca.ParseCerts([]byte(resp.TrustBundle))
		return len(certs)
	}
	steps := []struct {
		name    string
		advance time.Duration
		want    int
	}{
		{"fresh", 0, 1},
		{"two thirds of the Workload CA's year used: a successor joins", 250 * 24 * time.Hour, 2},
		{"old Workload CA expired: it leaves the bundle", 120 * 24 * time.Hour, 1},
	}
	for _, s := range steps {
		clk.Advance(s.advance)
		if err := r.Server.Rotate(ctx(t)); err != nil {
			t.Fatal(err)
		}
		if got := bundleSize(); got != s.want {
			t.Errorf("%s: trust bundle has %d CAs, want %d", s.name, got, s.want)
		}
	}
}

func TestRottestWithStore(t *testing.T) {
	st, err := store.OpenFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := rottest.Start(t, rottest.WithStore(st))
	r.CreateWorkload(t, rotapi.Workload{Name: "w"})
	if _, err := r.Client(t, nil).Redeem(ctx(t), &rotapi.RedeemRequest{Egg: r.MintEgg(t, "w", rotapi.MintRequest{}), CSR: csrFor(t, p256(t), nil)}); err != nil {
		t.Fatal(err)
	}
	s, err := st.Load(ctx(t))
	if err != nil || s.Workloads["w"] == nil || len(s.Eggs) != 1 {
		t.Errorf("the given store does not hold the state: %v", err)
	}
}
