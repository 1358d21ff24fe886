package rot_test

import (
	"encoding/base64"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/seal-dev/seal/internal/rot/rottest"
	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/testing/testenv"
)

func TestLogsAuditWithoutKeyMaterial(t *testing.T) {
	var logs testenv.LogBuffer
	r := rottest.Start(t, rottest.WithLogger(slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	r.CreateWorkload(t, rotapi.Workload{Name: "w", Peers: []string{"api"}})
	m := r.MintEggInfo(t, "w", rotapi.MintRequest{Peer: "api"})
	resp, err := r.Client(t, nil).Redeem(ctx(t), &rotapi.RedeemRequest{Egg: m.Egg, CSR: csrFor(t, p256(t), nil)})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = r.Client(t, nil).Redeem(ctx(t), &rotapi.RedeemRequest{Egg: m.Egg + "x", CSR: "junk"})
	if err := r.Admin.Do(ctx(t), http.MethodPost, rotapi.Path(rotapi.PathKeys, "w"), nil, nil); err != nil {
		t.Fatal(err)
	}
	r.RevokeEgg(t, m.ID)
	a := authority(t, r)
	out := logs.String()
	secrets := map[string]string{
		"a private key PEM":   "PRIVATE KEY",
		"an age identity":     "AGE-SECRET-KEY-",
		"the Egg text":        m.Egg[len(m.Egg)-40:],
		"the egg-sealing key": base64.StdEncoding.EncodeToString(a.EggKeys.Keys[a.EggKeys.Current]),
		"the pod certificate": strings.Split(resp.Certificate, "\n")[1],
	}
	for what, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("logs contain %s", what)
		}
	}
	for _, want := range []string{`"msg":"issued"`, `"msg":"redemption refused"`, `"action":"egg-mint"`, `"action":"egg-revoke"`, `"action":"keys-rotate"`, `"action":"workload-create"`, `"audit":true`, m.ID} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack the audit record %s", want)
		}
	}
}
