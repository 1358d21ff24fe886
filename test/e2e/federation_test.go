package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seal-dev/seal/internal/ca"
	"github.com/seal-dev/seal/internal/rot/rottest"
	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/testing/sniproxy"
	"github.com/seal-dev/seal/internal/testing/testenv"
	"github.com/seal-dev/seal/pkg/sealtls"
)

const (
	alphaTD = "alpha.example.org"
	betaTD  = "beta.example.org"
	gammaTD = "gamma.example.org"

	// Route hosts of the test's SNI router (an OpenShift router with passthrough Routes).
	payHost  = "payments.apps.alpha.example.org"
	billHost = "billing.apps.beta.example.org"
	// betaROTHost routes to beta's ROT, so alpha reaches beta's bundle endpoint through the
	// router too (and the test can point it at broken endpoints).
	betaROTHost = "localhost"
)

// TestFederationBundleEndpoints runs the federation of docs/federation.md on loopback: two ROTs
// (alpha, beta) exchange bundles once with sealctl and then keep them fresh from each other's
// bundle endpoint; pods of each trust domain, set up by the real seal-init, complete mTLS
// through pkg/sealtls directly and through an SNI-routing passthrough proxy; peers outside the
// federation or of another workload are refused; beta's ROT CA rotation reaches alpha through
// the endpoint; broken endpoints leave the last good bundle in place with the error visible.
func TestFederationBundleEndpoints(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: runs seal-init and sealctl processes")
	}
	t.Parallel() // mostly waits for alpha's refresh loop
	tools := fedBuild(t)
	clk := &fedClock{}
	alpha := rottest.Start(t, rottest.WithTrustDomain(alphaTD), rottest.WithClock(clk.Now))
	beta := rottest.Start(t, rottest.WithTrustDomain(betaTD))
	gamma := rottest.Start(t, rottest.WithTrustDomain(gammaTD))   // not federated with alpha
	impostor := rottest.Start(t, rottest.WithTrustDomain(betaTD)) // claims beta's trust domain
	router, err := sniproxy.Listen("127.0.0.1:0", map[string]string{betaROTHost: hostPort(beta.URL)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = router.Close() })
	_, routerPort, _ := net.SplitHostPort(router.Addr())
	betaEndpoint := "https://" + net.JoinHostPort(betaROTHost, routerPort) + rotapi.PathBundle

	// The first exchange, by hand: each side exports, the other imports with the endpoint to
	// refresh from. gamma and the impostor import alpha's bundle too, so that the refusals
	// below are alpha's decisions, not theirs.
	tools.importBundle(t, beta, alphaTD, tools.export(t, alpha), alpha.URL+rotapi.PathBundle)
	tools.importBundle(t, alpha, betaTD, tools.export(t, beta), betaEndpoint)
	tools.importBundle(t, gamma, alphaTD, tools.export(t, alpha), "")
	tools.importBundle(t, impostor, alphaTD, tools.export(t, alpha), "")
	imported := tools.bundle(t, alpha, betaTD)
	if n := fedAuthorities(t, imported); n != 1 || imported.BundleEndpointURL != betaEndpoint || imported.LastError != "" {
		t.Fatalf("alpha's bundle of beta after import: %d authorities, endpoint %q, error %q", n, imported.BundleEndpointURL, imported.LastError)
	}

	tools.sealctl(t, alpha, "workload", "create", "payments", "--peer", "api", "--federates-with", betaTD)
	tools.sealctl(t, beta, "workload", "create", "billing", "--peer", "client", "--federates-with", alphaTD)
	tools.sealctl(t, beta, "workload", "create", "reports", "--peer", "client", "--federates-with", alphaTD)
	tools.sealctl(t, gamma, "workload", "create", "intruder", "--peer", "client", "--federates-with", alphaTD)
	tools.sealctl(t, impostor, "workload", "create", "billing", "--peer", "client", "--federates-with", alphaTD)
	payEgg := tools.egg(t, alpha, "payments", "api")
	payments := tools.pod(t, payEgg, betaTD)
	billingEgg := tools.egg(t, beta, "billing", "client")
	billing := tools.pod(t, billingEgg, alphaTD)
	reports := tools.pod(t, tools.egg(t, beta, "reports", "client"), alphaTD)
	intruder := tools.pod(t, tools.egg(t, gamma, "intruder", "client"), alphaTD)
	fake := tools.pod(t, tools.egg(t, impostor, "billing", "client"), alphaTD)
	if got := fedPEMCerts(t, filepath.Join(payments, "bundles", betaTD+".pem")); !bytes.Equal(ca.CertPEM(got...), beta.CAPEM) {
		t.Errorf("payments' bundles/%s.pem is not beta's ROT CA", betaTD)
	}

	paySrv := fedServe(t, fedLoad(t, payments), sealtls.AuthorizeWorkload(betaTD, "billing", "client"))
	billSrv := fedServe(t, fedLoad(t, billing), sealtls.AuthorizeWorkload(alphaTD, "payments", "api"))
	router.SetRoute(payHost, paySrv.addr)
	router.SetRoute(billHost, billSrv.addr)
	toPayments := sealtls.AuthorizeWorkload(alphaTD, "payments", "api")
	toBilling := sealtls.AuthorizeWorkload(betaTD, "billing", "client")
	billingID := "spiffe://" + betaTD + "/workload/billing/peer/client"
	paymentsID := "spiffe://" + alphaTD + "/workload/payments/peer/api"

	t.Run("mTLS across trust domains", func(t *testing.T) {
		for _, c := range []fedCase{
			{name: "beta billing to alpha payments, direct", client: billing, authz: toPayments, srv: paySrv, wantServer: paymentsID, wantClient: billingID},
			{name: "beta billing to alpha payments, through the router", client: billing, authz: toPayments, srv: paySrv, route: payHost, router: router, wantServer: paymentsID, wantClient: billingID},
			{name: "alpha payments to beta billing, direct", client: payments, authz: toBilling, srv: billSrv, wantServer: billingID, wantClient: paymentsID},
			{name: "alpha payments to beta billing, through the router", client: payments, authz: toBilling, srv: billSrv, route: billHost, router: router, wantServer: billingID, wantClient: paymentsID},
			{name: "gamma's workload (trust domain not federated) is refused", client: intruder, authz: toPayments, srv: paySrv, route: payHost, router: router,
				wantRefusal: "trust domain " + gammaTD + " is not trusted"},
			{name: "billing of another ROT claiming beta's trust domain is refused", client: fake, authz: toPayments, srv: paySrv,
				wantRefusal: "does not verify against the authorities of " + betaTD},
			{name: "beta's reports (another workload) is refused", client: reports, authz: toPayments, srv: paySrv, route: payHost, router: router,
				wantRefusal: `is not workload "billing"`},
		} {
			t.Run(c.name, func(t *testing.T) { c.run(t) })
		}
	})

	t.Run("beta's ROT CA rotation reaches alpha through the endpoint", func(t *testing.T) {
		ctx := fedCtx(t)
		if err := beta.Server.RotateROTCA(ctx); err != nil {
			t.Fatal(err)
		}
		if err := beta.Server.RotateWorkloadCA(ctx, "billing"); err != nil {
			t.Fatal(err)
		}
		billing2 := tools.pod(t, billingEgg, alphaTD) // chains to beta's new ROT CA
		stale := fedCase{client: billing2, authz: toPayments, srv: paySrv, wantRefusal: "does not verify against the authorities of " + betaTD}
		stale.run(t)
		alpha.Server.RefreshBundles(ctx, false) // what the refresh loop runs: beta is not due yet
		if n := fedAuthorities(t, tools.bundle(t, alpha, betaTD)); n != 1 {
			t.Fatalf("alpha refreshed beta's bundle before its refresh hint: %d authorities", n)
		}
		// alpha's refresh hint (5 minutes) passes; the ROT's own refresh loop (every 15s)
		// fetches beta's new bundle over https_spiffe, through the router.
		clk.advance(5*time.Minute + time.Second)
		testenv.Eventually(t, 30*time.Second, func() error {
			if n := fedAuthorities(t, fedBundleOf(t, alpha, betaTD)); n != 2 {
				return fmt.Errorf("alpha holds %d authorities of beta, want 2", n)
			}
			return nil
		})
		clk.advance(0)
		got := tools.bundle(t, alpha, betaTD)
		if got.SequenceNumber != imported.SequenceNumber+1 || got.LastError != "" || got.LastRefreshed == nil || !got.LastRefreshed.After(*imported.LastRefreshed) {
			t.Errorf("sealctl bundle list after the refresh: sequence %d (want %d), lastError %q, lastRefreshed %v (import %v)",
				got.SequenceNumber, imported.SequenceNumber+1, got.LastError, got.LastRefreshed, imported.LastRefreshed)
		}
		tools.pod(t, payEgg, betaTD, payments) // renewal: the pod gets the new bundle
		if n := len(fedPEMCerts(t, filepath.Join(payments, "bundles", betaTD+".pem"))); n != 2 {
			t.Errorf("payments' bundles/%s.pem has %d certificates after renewal, want old and new ROT CA", betaTD, n)
		}
		for _, c := range []fedCase{
			{name: "direct", client: billing2, authz: toPayments, srv: paySrv, wantServer: paymentsID, wantClient: billingID},
			{name: "through the router", client: billing2, authz: toPayments, srv: paySrv, route: payHost, router: router, wantServer: paymentsID, wantClient: billingID},
			{name: "old beta pod still", client: billing, authz: toPayments, srv: paySrv, wantServer: paymentsID, wantClient: billingID},
		} {
			t.Run(c.name, func(t *testing.T) { c.run(t) })
		}
	})

	t.Run("broken bundle endpoints keep the last good bundle", func(t *testing.T) {
		good := tools.bundle(t, alpha, betaTD)
		gammaDoc := tools.export(t, gamma)
		// Servers that authenticate as beta's ROT (its serving certificate, so https_spiffe
		// succeeds) but answer wrongly, and gamma's real ROT, which cannot prove beta's ID.
		release := make(chan struct{})
		t.Cleanup(func() { close(release) })
		broken := []struct {
			name, backend, wantErr string
		}{
			{"garbage", fedBadEndpoint(t, beta, func(w http.ResponseWriter, _ *http.Request) {
				_, _ = io.WriteString(w, "<html>maintenance</html>")
			}), "invalid character"},
			{"a bundle of another trust domain", fedBadEndpoint(t, beta, func(w http.ResponseWriter, _ *http.Request) {
				_, _ = w.Write(gammaDoc)
			}), `belongs to trust domain "` + gammaTD},
			{"the endpoint of another trust domain", hostPort(gamma.URL), `no X.509 bundle for trust domain "` + gammaTD},
			{"a hanging endpoint", fedBadEndpoint(t, beta, func(_ http.ResponseWriter, r *http.Request) {
				select {
				case <-r.Context().Done():
				case <-release:
				}
			}), "deadline exceeded"},
		}
		for _, b := range broken {
			t.Run(b.name, func(t *testing.T) {
				router.SetRoute(betaROTHost, b.backend)
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				alpha.Server.RefreshBundles(ctx, true)
				cancel()
				got := tools.bundle(t, alpha, betaTD)
				if !strings.Contains(got.LastError, b.wantErr) {
					t.Errorf("lastError = %q, want it to mention %q", got.LastError, b.wantErr)
				}
				if got.Bundle != good.Bundle || got.SequenceNumber != good.SequenceNumber {
					t.Errorf("the bundle changed after a failed refresh: sequence %d, want %d (the last good one)", got.SequenceNumber, good.SequenceNumber)
				}
			})
		}
		if table := string(tools.sealctl(t, alpha, "bundle", "list")); !strings.Contains(table, "deadline exceeded") {
			t.Errorf("sealctl bundle list does not show the last error:\n%s", table)
		}
		tools.pod(t, payEgg, betaTD, payments)
		if n := len(fedPEMCerts(t, filepath.Join(payments, "bundles", betaTD+".pem"))); n != 2 {
			t.Errorf("payments' bundles/%s.pem has %d certificates after the failed refreshes, want the 2 of the last good bundle", betaTD, n)
		}
		(&fedCase{client: billing, authz: toPayments, srv: paySrv, route: payHost, router: router, wantServer: paymentsID, wantClient: billingID}).run(t)

		router.SetRoute(betaROTHost, hostPort(beta.URL))
		alpha.Server.RefreshBundles(fedCtx(t), true)
		if got := tools.bundle(t, alpha, betaTD); got.LastError != "" || got.Bundle != good.Bundle {
			t.Errorf("after the endpoint recovered: lastError %q, bundle changed %v", got.LastError, got.Bundle != good.Bundle)
		}
	})
}

// TestFederationAirGap federates two real seal-rot processes by sealctl bundle export/import
// only (no bundle endpoint), then stops both ROTs and runs the mTLS check on the pod files.
func TestFederationAirGap(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: runs seal-rot, seal-init and sealctl processes")
	}
	t.Parallel()
	tools := fedBuild(t)
	alpha := fedStartROT(t, alphaTD)
	beta := fedStartROT(t, betaTD)
	for _, x := range []struct{ from, to *fedROTProc }{{alpha, beta}, {beta, alpha}} {
		tools.importBundle(t, x.to, x.from.td, tools.export(t, x.from), "")
		if b := tools.bundle(t, x.to, x.from.td); b.BundleEndpointURL != "" || fedAuthorities(t, b) != 1 {
			t.Fatalf("%s's bundle of %s: endpoint %q, %d authorities; want none and 1", x.to.td, x.from.td, b.BundleEndpointURL, fedAuthorities(t, b))
		}
	}
	tools.sealctl(t, alpha, "workload", "create", "payments", "--peer", "api", "--federates-with", betaTD)
	tools.sealctl(t, beta, "workload", "create", "billing", "--peer", "client", "--federates-with", alphaTD)
	tools.sealctl(t, beta, "workload", "create", "reports", "--peer", "client", "--federates-with", alphaTD)
	payments := tools.pod(t, tools.egg(t, alpha, "payments", "api"), betaTD)
	billing := tools.pod(t, tools.egg(t, beta, "billing", "client"), alphaTD)
	reports := tools.pod(t, tools.egg(t, beta, "reports", "client"), alphaTD)
	alpha.stop(t)
	beta.stop(t)

	paySrv := fedServe(t, fedLoad(t, payments), sealtls.AuthorizeWorkload(betaTD, "billing", "client"))
	router, err := sniproxy.Listen("127.0.0.1:0", map[string]string{payHost: paySrv.addr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = router.Close() })
	toPayments := sealtls.AuthorizeWorkload(alphaTD, "payments", "api")
	for _, c := range []fedCase{
		{name: "direct", client: billing, authz: toPayments, srv: paySrv,
			wantServer: "spiffe://" + alphaTD + "/workload/payments/peer/api", wantClient: "spiffe://" + betaTD + "/workload/billing/peer/client"},
		{name: "through the router", client: billing, authz: toPayments, srv: paySrv, route: payHost, router: router,
			wantServer: "spiffe://" + alphaTD + "/workload/payments/peer/api", wantClient: "spiffe://" + betaTD + "/workload/billing/peer/client"},
		{name: "another workload is refused", client: reports, authz: toPayments, srv: paySrv, wantRefusal: `is not workload "billing"`},
	} {
		t.Run(c.name, func(t *testing.T) { c.run(t) })
	}
}
