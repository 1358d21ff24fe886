package rot_test

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/seal-dev/seal/internal/ca"
	"github.com/seal-dev/seal/internal/podtoken/podtokentest"
	"github.com/seal-dev/seal/internal/rot"
	"github.com/seal-dev/seal/internal/rot/rottest"
	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/testing/testenv"
)

// addCluster registers a cluster with an inline JWKS through the admin API.
func addCluster(t testing.TB, r *rottest.ROT, name string, iss *podtokentest.Issuer) {
	t.Helper()
	if err := r.Admin.Do(ctx(t), http.MethodPut, rotapi.Path(rotapi.PathCluster, name), rotapi.Cluster{Issuer: iss.URL, JWKS: iss.JWKS(t)}, nil); err != nil {
		t.Fatalf("adding cluster %s: %v", name, err)
	}
}

func bind(t testing.TB, r *rottest.ROT, workload string, req rotapi.BindRequest) rotapi.Workload {
	t.Helper()
	var out rotapi.Workload
	if err := r.Admin.Do(ctx(t), http.MethodPost, rotapi.Path(rotapi.PathBindings, workload), req, &out); err != nil {
		t.Fatalf("binding %s: %v", workload, err)
	}
	return out
}

func TestRedeemWithPodToken(t *testing.T) {
	clk := &clock{t: time.Now()}
	var logs testenv.LogBuffer
	r := rottest.Start(t, rottest.WithClock(clk.Now), rottest.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
	prod := podtokentest.New(t, "https://kubernetes.default.svc.cluster.local", jose.RS256)
	edge := podtokentest.New(t, "https://oidc.edge.example.com", jose.ES256)
	stranger := podtokentest.New(t, "https://evil.example.com", jose.RS256)
	forger := podtokentest.New(t, prod.URL, jose.RS256)
	forger.KID = prod.KID
	addCluster(t, r, "prod", prod)
	addCluster(t, r, "edge", edge)

	pb := rotapi.Binding{Cluster: "prod", Namespace: "payments", ServiceAccount: "api"}
	r.CreateWorkload(t, rotapi.Workload{Name: "payments", Peers: []string{"api"}, Bindings: []rotapi.Binding{pb}})
	r.CreateWorkload(t, rotapi.Workload{Name: "legacy"})
	eggText := r.MintEgg(t, "payments", rotapi.MintRequest{Peer: "api"})
	legacy := r.MintEgg(t, "legacy", rotapi.MintRequest{})
	csr := csrFor(t, p256(t), nil)
	now := clk.Now()

	tests := []struct {
		name     string
		token    string
		advance  time.Duration
		wantCode int
		wantErr  string
	}{
		{name: "no token", wantCode: 401, wantErr: "no ServiceAccount token: the workload is bound to prod/payments/api"},
		{name: "not a JWT", token: "not.a.jwt", wantCode: 403, wantErr: "malformed token"},
		{name: "unknown issuer", token: stranger.Token(t, now, "payments", "api", "p"), wantCode: 403, wantErr: `unknown issuer: issuer "https://evil.example.com"`},
		{name: "known cluster not bound", token: edge.Token(t, now, "payments", "api", "p"), wantCode: 403, wantErr: "cluster not bound"},
		{name: "bad signature", token: forger.Token(t, now, "payments", "api", "p"), wantCode: 403, wantErr: "bad signature"},
		{name: "wrong audience", token: prod.Token(t, now, "payments", "api", "p", func(c *podtokentest.Claims) { c.Audience = jwt.Audience{"vault"} }), wantCode: 403, wantErr: "wrong audience"},
		{name: "namespace not bound", token: prod.Token(t, now, "default", "api", "intruder-1"), wantCode: 403, wantErr: "pod intruder-1 runs as prod/default/api, which is not bound"},
		{name: "service account not bound", token: prod.Token(t, now, "payments", "default", "p"), wantCode: 403, wantErr: "namespace or service account not bound"},
		{name: "expired", token: prod.Token(t, now, "payments", "api", "p"), advance: 10 * time.Minute, wantCode: 403, wantErr: "token expired"},
	}
	c := r.Client(t, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk.Advance(tt.advance)
			defer clk.Advance(-tt.advance)
			body, _ := json.Marshal(rotapi.RedeemRequest{Egg: eggText, CSR: csr, Token: tt.token})
			code, msg := post(t, c, rotapi.PathRedeem, body)
			if code != tt.wantCode || !strings.Contains(msg, tt.wantErr) {
				t.Errorf("got %d %q, want %d with %q", code, msg, tt.wantCode, tt.wantErr)
			}
			if len(tt.token) > 40 && (strings.Contains(msg, tt.token[len(tt.token)-40:]) || strings.Contains(logs.String(), tt.token[len(tt.token)-40:])) {
				t.Error("the answer or the logs echo the token")
			}
		})
	}

	good := prod.Token(t, now, "payments", "api", "api-7f9c")
	if _, err := c.Redeem(ctx(t), &rotapi.RedeemRequest{Egg: eggText, CSR: csr, Token: good}); err != nil {
		t.Fatalf("the bound pod's token is refused: %v", err)
	}
	if l := logs.String(); !strings.Contains(l, `"pod":"api-7f9c"`) || !strings.Contains(l, `"podUID":"uid-api-7f9c"`) || !strings.Contains(l, `"namespace":"payments"`) {
		t.Errorf("the audit line of the redemption lacks the pod name and uid:\n%s", l)
	}
	if _, err := c.Redeem(ctx(t), &rotapi.RedeemRequest{Egg: legacy, CSR: csr}); err != nil {
		t.Errorf("an unbound workload's Egg alone is refused: %v", err)
	}

	// Any service account of a namespace, on a second cluster.
	w := bind(t, r, "payments", rotapi.BindRequest{Bind: []rotapi.Binding{{Cluster: "edge", Namespace: "batch", ServiceAccount: "*"}}})
	if len(w.Bindings) != 2 {
		t.Errorf("after bind: bindings %v, want 2", w.Bindings)
	}
	if _, err := c.Redeem(ctx(t), &rotapi.RedeemRequest{Egg: eggText, CSR: csr, Token: edge.Token(t, now, "batch", "cron", "job-1")}); err != nil {
		t.Errorf("an edge/batch/* pod is refused: %v", err)
	}
	// Unbinding everything: the Egg alone redeems again (the migration path, backwards).
	bind(t, r, "payments", rotapi.BindRequest{Unbind: []rotapi.Binding{pb, {Cluster: "edge", Namespace: "batch", ServiceAccount: "*"}}})
	if _, err := c.Redeem(ctx(t), &rotapi.RedeemRequest{Egg: eggText, CSR: csr}); err != nil {
		t.Errorf("after unbinding, the Egg alone is refused: %v", err)
	}
}

func TestClusterAdmin(t *testing.T) {
	clk := &clock{t: time.Now()}
	r := rottest.Start(t, rottest.WithClock(clk.Now))
	prod := podtokentest.New(t, "https://kubernetes.default.svc", jose.ES256)
	addCluster(t, r, "prod", prod)
	r.CreateWorkload(t, rotapi.Workload{Name: "payments", Bindings: []rotapi.Binding{{Cluster: "prod", Namespace: "payments", ServiceAccount: "*"}}})

	tests := []struct {
		name, method, path string
		body               any
		wantCode           int
		wantErr            string
	}{
		{"both jwks and jwksURL", http.MethodPut, rotapi.Path(rotapi.PathCluster, "x"), rotapi.Cluster{Issuer: "https://x", JWKS: prod.JWKS(t), JWKSURL: "https://x/jwks"}, 400, "exactly one of jwks"},
		{"neither", http.MethodPut, rotapi.Path(rotapi.PathCluster, "x"), rotapi.Cluster{Issuer: "https://x"}, 400, "exactly one of jwks"},
		{"no issuer", http.MethodPut, rotapi.Path(rotapi.PathCluster, "x"), rotapi.Cluster{JWKS: prod.JWKS(t)}, 400, "issuer must be"},
		{"JWKS without a key", http.MethodPut, rotapi.Path(rotapi.PathCluster, "x"), rotapi.Cluster{Issuer: "https://x", JWKS: `{"keys":[]}`}, 400, "no public signing key"},
		{"http JWKS URL", http.MethodPut, rotapi.Path(rotapi.PathCluster, "x"), rotapi.Cluster{Issuer: "https://x", JWKSURL: "http://x/jwks"}, 400, "must be an https URL"},
		{"bad name", http.MethodPut, rotapi.Path(rotapi.PathCluster, "X_1"), rotapi.Cluster{Issuer: "https://x", JWKS: prod.JWKS(t)}, 400, "cluster name"},
		{"delete a bound cluster", http.MethodDelete, rotapi.Path(rotapi.PathCluster, "prod"), nil, 409, "bound by workload(s) [payments]"},
		{"bind to an unknown cluster", http.MethodPost, rotapi.Path(rotapi.PathBindings, "payments"), rotapi.BindRequest{Bind: []rotapi.Binding{{Cluster: "nope", Namespace: "a", ServiceAccount: "b"}}}, 404, `cluster "nope" is not known`},
		{"unbind what is not bound", http.MethodPost, rotapi.Path(rotapi.PathBindings, "payments"), rotapi.BindRequest{Unbind: []rotapi.Binding{{Cluster: "prod", Namespace: "a", ServiceAccount: "b"}}}, 404, "has no binding prod/a/b"},
		{"bad service account", http.MethodPost, rotapi.Path(rotapi.PathBindings, "payments"), rotapi.BindRequest{Bind: []rotapi.Binding{{Cluster: "prod", Namespace: "a", ServiceAccount: "B*"}}}, 400, "Kubernetes name or *"},
		{"create bound to an unknown cluster", http.MethodPost, rotapi.PathWorkloads, rotapi.Workload{Name: "w2", Bindings: []rotapi.Binding{{Cluster: "nope", Namespace: "a", ServiceAccount: "b"}}}, 404, `cluster "nope" is not known`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := r.Admin.Do(ctx(t), tt.method, tt.path, tt.body, nil)
			var se *rotapi.StatusError
			if !errors.As(err, &se) || se.Code != tt.wantCode || !strings.Contains(se.Message, tt.wantErr) {
				t.Errorf("got %v, want %d with %q", err, tt.wantCode, tt.wantErr)
			}
		})
	}

	t.Run("JWKS URL: fetched, last error shown, last good keys kept", func(t *testing.T) {
		var fail atomic.Bool
		srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			if fail.Load() {
				http.Error(w, "down", http.StatusServiceUnavailable)
				return
			}
			_, _ = w.Write([]byte(prod.JWKS(t)))
		}))
		defer srv.Close()
		caPEM := string(ca.CertPEM(srv.Certificate()))
		var got rotapi.Cluster
		if err := r.Admin.Do(ctx(t), http.MethodPut, rotapi.Path(rotapi.PathCluster, "edge"), rotapi.Cluster{Issuer: "https://edge", JWKSURL: srv.URL + "/openid/v1/jwks", JWKSCA: caPEM}, &got); err != nil {
			t.Fatal(err)
		}
		if got.Keys != 1 || got.LastError != "" || got.LastRefreshed == nil {
			t.Fatalf("after add: %+v, want 1 key fetched", got)
		}
		fail.Store(true)
		clk.Advance(6 * time.Minute)
		defer clk.Advance(-6 * time.Minute)
		r.Server.RefreshJWKS(ctx(t), false)
		got = rotapi.Cluster{} // omitempty fields would keep the last answer's values
		if err := r.Admin.Do(ctx(t), http.MethodGet, rotapi.Path(rotapi.PathCluster, "edge"), nil, &got); err != nil {
			t.Fatal(err)
		}
		if got.Keys != 1 || !strings.Contains(got.LastError, "503") {
			t.Errorf("after a failed refresh: keys %d, lastError %q; want the last good key and a 503", got.Keys, got.LastError)
		}
		fail.Store(false)
		r.Server.RefreshJWKS(ctx(t), false) // within the backoff: not fetched yet
		if err := r.Admin.Do(ctx(t), http.MethodGet, rotapi.Path(rotapi.PathCluster, "edge"), nil, &got); err != nil || got.LastError == "" {
			t.Errorf("refreshed within the backoff: %+v, %v", got, err)
		}
		r.Server.RefreshJWKS(ctx(t), true)
		got = rotapi.Cluster{}
		if err := r.Admin.Do(ctx(t), http.MethodGet, rotapi.Path(rotapi.PathCluster, "edge"), nil, &got); err != nil || got.LastError != "" {
			t.Errorf("after a forced good refresh: %+v, %v; want no error", got, err)
		}
		// With the wrong CA the fetch fails but the cluster is saved, its error visible.
		got = rotapi.Cluster{}
		if err := r.Admin.Do(ctx(t), http.MethodPut, rotapi.Path(rotapi.PathCluster, "other"), rotapi.Cluster{Issuer: "https://other", JWKSURL: srv.URL}, &got); err != nil {
			t.Fatal(err)
		}
		if got.Keys != 0 || !strings.Contains(got.LastError, "certificate") {
			t.Errorf("fetch with the system roots from a test server: %+v, want a certificate error", got)
		}
	})

	var list []rotapi.Cluster
	if err := r.Admin.Do(ctx(t), http.MethodGet, rotapi.PathClusters, nil, &list); err != nil || len(list) != 3 || list[2].Name != "prod" || len(list[2].BoundBy) != 1 {
		t.Errorf("list = %+v, %v; want edge, other, prod (bound by payments)", list, err)
	}
}

// TestTokenlessFloodLeavesTheEggsBudget: requests with a bound workload's Egg but no pod token
// are refused before the Egg's rate limit is charged, so a leaked Egg alone cannot make the
// real pods wait (429). Found in review.
func TestTokenlessFloodLeavesTheEggsBudget(t *testing.T) {
	clk := &clock{t: time.Now()}
	r := rottest.Start(t, rottest.WithClock(clk.Now), rottest.WithRedeemLimits(rot.RedeemLimits{PerEgg: rot.RateLimit{Rate: 0.001, Burst: 3}}))
	prod := podtokentest.New(t, "https://kubernetes.default.svc.cluster.local", jose.RS256)
	addCluster(t, r, "prod", prod)
	r.CreateWorkload(t, rotapi.Workload{Name: "payments", Bindings: []rotapi.Binding{{Cluster: "prod", Namespace: "payments", ServiceAccount: "api"}}})
	eggText := r.MintEgg(t, "payments", rotapi.MintRequest{})
	c := r.Client(t, nil)
	csr := csrFor(t, p256(t), nil)
	for i := 0; i < 10; i++ {
		body, _ := json.Marshal(rotapi.RedeemRequest{Egg: eggText, CSR: csr})
		if code, msg := post(t, c, rotapi.PathRedeem, body); code != http.StatusUnauthorized {
			t.Fatalf("request %d without a token: %d %s, want 401", i, code, msg)
		}
	}
	for i := 0; i < 3; i++ { // the burst is still whole
		if _, err := c.Redeem(ctx(t), &rotapi.RedeemRequest{Egg: eggText, CSR: csr, Token: prod.Token(t, clk.Now(), "payments", "api", "p")}); err != nil {
			t.Fatalf("redemption %d of the bound pod after the flood: %v", i, err)
		}
	}
}
