package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seal-dev/seal/pkg/sealtls"
)

// TestFederationInvites is first contact with the real binaries: three ROTs joined pairwise by
// sealctl federation invite | join (no bundle file carried), then pods of every pair of trust
// domains, set up by the real seal-init, complete mTLS with each other. A reused and an edited
// invite are refused, naming why.
func TestFederationInvites(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: runs seal-rot, seal-init and sealctl processes")
	}
	t.Parallel()
	tools := fedBuild(t)
	tds := []string{"alpha.invite.example", "beta.invite.example", "gamma.invite.example"}
	rots := map[string]*fedROTProc{}
	for _, td := range tds {
		rots[td] = fedStartROT(t, td)
	}
	inviteFile := func(inviter string) string {
		file := filepath.Join(t.TempDir(), "invite.txt")
		if err := os.WriteFile(file, tools.sealctl(t, rots[inviter], "federation", "invite", "--ttl", "10m"), 0o600); err != nil {
			t.Fatal(err)
		}
		return file
	}
	sealctl := func(r *fedROTProc, args ...string) (int, string, string) {
		return sealctlRun(tools.sealctlBin, append([]string{"--rot", r.url(), "--admin", r.admin()}, args...)...)
	}
	pairs := [][2]string{{tds[0], tds[1]}, {tds[1], tds[2]}, {tds[2], tds[0]}}
	var first string
	for i, p := range pairs {
		file := inviteFile(p[0])
		if i == 0 {
			first = file
		}
		if out := string(tools.sealctl(t, rots[p[1]], "federation", "join", file)); !strings.Contains(out, p[0]) {
			t.Errorf("sealctl federation join printed %q, want the joined trust domain %s", out, p[0])
		}
	}
	for _, td := range tds {
		for _, other := range tds {
			if other == td {
				continue
			}
			if b := tools.bundle(t, rots[td], other); b.BundleEndpointURL != rots[other].url()+"/v1/bundle" || b.EndpointProfile != "https_spiffe" || fedAuthorities(t, b) != 1 {
				t.Errorf("%s holds for %s: %+v; want its https_spiffe endpoint and one authority", td, other, b)
			}
		}
	}

	// Refusals, each named. A used invite, by a newcomer; by a trust domain already federated,
	// the join is refused before the invite is even presented.
	delta := fedStartROT(t, "delta.invite.example")
	if code, _, errOut := sealctl(delta, "federation", "join", first); code != 1 || !strings.Contains(errOut, "already used") || !strings.Contains(errOut, tds[1]) {
		t.Errorf("joining with a used invite: exit %d, %q; want 1, \"already used\" by %s", code, errOut, tds[1])
	}
	if code, _, errOut := sealctl(rots[tds[2]], "federation", "join", inviteFile(tds[0])); code != 1 || !strings.Contains(errOut, "already federated") {
		t.Errorf("joining a trust domain already federated: exit %d, %q; want 1, \"already federated\"", code, errOut)
	}
	edited := inviteFile(tds[0])
	b, _ := os.ReadFile(edited)
	parts := strings.Split(strings.TrimSpace(string(b)), ".")
	parts[2] = strings.Repeat("A", len(parts[2]))
	if err := os.WriteFile(edited, []byte(strings.Join(parts, ".")), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := sealctl(rots[tds[2]], "federation", "join", edited); code != 1 || !strings.Contains(errOut, "tampered") {
		t.Errorf("joining with an edited invite: exit %d, %q; want 1 and \"tampered\"", code, errOut)
	}

	// Pods of each pair of trust domains complete mTLS across them.
	for _, td := range tds {
		args := []string{"workload", "create", "svc", "--peer", "server", "--peer", "client"}
		for _, other := range tds {
			if other != td {
				args = append(args, "--federates-with", other)
			}
		}
		tools.sealctl(t, rots[td], args...)
	}
	for _, p := range pairs {
		server := tools.pod(t, tools.egg(t, rots[p[0]], "svc", "server"), p[1])
		client := tools.pod(t, tools.egg(t, rots[p[1]], "svc", "client"), p[0])
		srv := fedServe(t, fedLoad(t, server), sealtls.AuthorizeWorkload(p[1], "svc", "client"))
		c := fedCase{client: client, authz: sealtls.AuthorizeWorkload(p[0], "svc", "server"), srv: srv,
			wantServer: "spiffe://" + p[0] + "/workload/svc/peer/server", wantClient: "spiffe://" + p[1] + "/workload/svc/peer/client"}
		t.Run(p[1]+" to "+p[0], func(t *testing.T) { c.run(t) })
	}
}
