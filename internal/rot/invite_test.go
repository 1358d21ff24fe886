package rot_test

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seal-dev/seal/internal/invite"
	"github.com/seal-dev/seal/internal/rot/rottest"
	"github.com/seal-dev/seal/internal/rotapi"
)

// movableClock is the real time plus an offset a test moves.
type movableClock struct{ off atomic.Int64 }

func (c *movableClock) now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *movableClock) advance(d time.Duration) { c.off.Add(int64(d)) }

func issueInvite(t *testing.T, r *rottest.ROT, ttl string) string {
	t.Helper()
	var out rotapi.InviteResponse
	if err := r.Admin.Do(ctx(t), http.MethodPost, rotapi.PathInvites, rotapi.InviteRequest{TTL: ttl}, &out); err != nil {
		t.Fatal(err)
	}
	return out.Invite
}

func join(t *testing.T, r *rottest.ROT, text string) (rotapi.FederatedBundle, error) {
	t.Helper()
	var fb rotapi.FederatedBundle
	err := r.Admin.Do(ctx(t), http.MethodPost, rotapi.PathJoinAdmin, rotapi.JoinAdminRequest{Invite: text}, &fb)
	return fb, err
}

func bundleOf(t *testing.T, r *rottest.ROT, td string) *rotapi.FederatedBundle {
	t.Helper()
	var list []rotapi.FederatedBundle
	if err := r.Admin.Do(ctx(t), http.MethodGet, rotapi.PathBundles, nil, &list); err != nil {
		t.Fatal(err)
	}
	for i := range list {
		if list[i].TrustDomain == td {
			return &list[i]
		}
	}
	return nil
}

// TestFederationInviteJoin: three ROTs joined pairwise by invites each hold the other two's
// bundles with https_spiffe endpoints, and refresh them from those endpoints.
func TestFederationInviteJoin(t *testing.T) {
	rots := map[string]*rottest.ROT{}
	for _, td := range []string{"alpha.example", "beta.example", "gamma.example"} {
		rots[td] = rottest.Start(t, rottest.WithTrustDomain(td))
	}
	for _, pair := range [][2]string{{"alpha.example", "beta.example"}, {"beta.example", "gamma.example"}, {"gamma.example", "alpha.example"}} {
		inviter, joiner := rots[pair[0]], rots[pair[1]]
		fb, err := join(t, joiner, issueInvite(t, inviter, "10m"))
		if err != nil {
			t.Fatalf("%s joining %s: %v", pair[1], pair[0], err)
		}
		if fb.TrustDomain != pair[0] || fb.BundleEndpointURL != inviter.URL+"/v1/bundle" || fb.EndpointProfile != "https_spiffe" {
			t.Errorf("%s joining %s answered %+v", pair[1], pair[0], fb)
		}
	}
	for td, r := range rots {
		for other, o := range rots {
			if other == td {
				continue
			}
			b := bundleOf(t, r, other)
			if b == nil || b.BundleEndpointURL != o.URL+"/v1/bundle" || b.EndpointProfile != "https_spiffe" || b.EndpointSPIFFEID != "spiffe://"+other+"/seal/rot" {
				t.Errorf("%s holds for %s: %+v, want its https_spiffe endpoint", td, other, b)
			}
		}
		r.Server.RefreshBundles(ctx(t), true)
		for other := range rots {
			if b := bundleOf(t, r, other); other != td && (b == nil || b.LastError != "") {
				t.Errorf("%s refreshing %s from its endpoint: %+v", td, other, b)
			}
		}
	}
	var invites []rotapi.InviteInfo
	if err := rots["alpha.example"].Admin.Do(ctx(t), http.MethodGet, rotapi.PathInvites, nil, &invites); err != nil {
		t.Fatal(err)
	}
	if len(invites) != 1 || invites[0].UsedBy != "beta.example" || invites[0].Used == nil {
		t.Errorf("alpha's invites = %+v, want one used by beta.example", invites)
	}
}

// TestFederationInviteRefusals: each way an invite can be wrong is refused with its reason,
// and leaves no bundle behind.
func TestFederationInviteRefusals(t *testing.T) {
	clock := &movableClock{}
	alpha := rottest.Start(t, rottest.WithTrustDomain("alpha.example"), rottest.WithClock(clock.now))
	beta := rottest.Start(t, rottest.WithTrustDomain("beta.example"))
	gamma := rottest.Start(t, rottest.WithTrustDomain("gamma.example"))
	resign := func(text string, edit func(i *invite.Invite)) string {
		i, err := invite.Parse(text)
		if err != nil {
			t.Fatal(err)
		}
		edit(i)
		return i.Encode()
	}

	used := issueInvite(t, alpha, "")
	if _, err := join(t, gamma, used); err != nil {
		t.Fatal(err)
	}
	expiring := issueInvite(t, alpha, "1m")
	for name, tc := range map[string]struct {
		text func() string
		code int
		want error
		msg  string
	}{
		"reused": {func() string { return used }, http.StatusConflict, invite.ErrUsed, "by gamma.example"},
		"edited without the secret": {func() string {
			parts := strings.Split(issueInvite(t, alpha, ""), ".")
			p, _ := base64.RawURLEncoding.DecodeString(parts[1])
			p = []byte(strings.Replace(string(p), `"exp":"20`, `"exp":"21`, 1))
			return parts[0] + "." + base64.RawURLEncoding.EncodeToString(p) + "." + parts[2]
		}, http.StatusBadRequest, invite.ErrTampered, "check value"},
		"longer expiry re-signed": {func() string {
			return resign(issueInvite(t, alpha, ""), func(i *invite.Invite) { i.NotAfter = i.NotAfter.Add(48 * time.Hour) })
		}, http.StatusForbidden, invite.ErrTampered, "differs from invite"},
		"other secret": {func() string {
			return resign(issueInvite(t, alpha, ""), func(i *invite.Invite) { _, _ = rand.Read(i.Secret) })
		}, http.StatusForbidden, invite.ErrTampered, "differs from invite"},
		"unknown id": {func() string {
			return resign(issueInvite(t, alpha, ""), func(i *invite.Invite) { i.ID = "inv-000000000000000000000000" })
		}, http.StatusNotFound, invite.ErrUnknown, "no invite inv-000000000000000000000000"},
		"URL of another ROT": {func() string {
			return resign(issueInvite(t, alpha, ""), func(i *invite.Invite) { i.URL = gamma.URL })
		}, http.StatusConflict, invite.ErrPinMismatch, "does not serve the bundle"},
		"expired at the inviting ROT": {func() string {
			clock.advance(2 * time.Minute)
			return expiring
		}, http.StatusGone, invite.ErrExpired, "expired"},
		"own invite": {func() string { return issueInvite(t, beta, "") }, http.StatusBadRequest, nil, "this ROT's own"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := join(t, beta, tc.text())
			var se *rotapi.StatusError
			if !errors.As(err, &se) || se.Code != tc.code {
				t.Fatalf("join = %v, want status %d", err, tc.code)
			}
			if tc.want != nil && !strings.Contains(se.Message, strings.TrimPrefix(tc.want.Error(), "invite: ")) || !strings.Contains(se.Message, tc.msg) {
				t.Errorf("join refused with %q, want %v and %q", se.Message, tc.want, tc.msg)
			}
		})
	}
	if b := bundleOf(t, beta, "alpha.example"); b != nil {
		t.Errorf("beta holds alpha's bundle after only refused joins: %+v", b)
	}
	if b := bundleOf(t, alpha, "beta.example"); b != nil {
		t.Errorf("alpha holds beta's bundle after only refused joins: %+v", b)
	}
}

// TestFederationInviteCannotReplace: an invite lets a new trust domain in; it never replaces the
// bundle of one the ROT already trusts, on either side, and a refused join leaves the invite
// unused.
func TestFederationInviteCannotReplace(t *testing.T) {
	alpha := rottest.Start(t, rottest.WithTrustDomain("alpha.example"))
	beta := rottest.Start(t, rottest.WithTrustDomain("beta.example"))
	if _, err := join(t, beta, issueInvite(t, alpha, "")); err != nil {
		t.Fatal(err)
	}
	impostor := rottest.Start(t, rottest.WithTrustDomain("beta.example")) // another CA claiming beta
	text := issueInvite(t, alpha, "")
	for name, r := range map[string]*rottest.ROT{"an impostor of a federated trust domain": impostor, "the federated trust domain again": beta} {
		_, err := join(t, r, text)
		var se *rotapi.StatusError
		if !errors.As(err, &se) || se.Code != http.StatusConflict || !strings.Contains(se.Message, "already federated") {
			t.Errorf("%s joining: %v, want 409 already federated", name, err)
		}
	}
	if b := bundleOf(t, alpha, "beta.example"); b == nil || b.BundleEndpointURL != beta.URL+"/v1/bundle" {
		t.Errorf("alpha's bundle of beta.example is now %+v, want beta's, unchanged", b)
	}
	gamma := rottest.Start(t, rottest.WithTrustDomain("gamma.example"))
	if _, err := join(t, gamma, text); err != nil {
		t.Errorf("the invite after refused joins: %v, want it still unused", err)
	}
}
