package kubestore

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/seal-dev/seal/internal/store"
	sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"
)

func TestCheckSpec(t *testing.T) {
	ttl := func(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }
	tests := []struct {
		name    string
		cr      string
		spec    sealv1.WorkloadSpec
		wantErr string
	}{
		{"minimal", "shop", sealv1.WorkloadSpec{}, ""},
		{"full", "shop", sealv1.WorkloadSpec{Peers: []string{"web", "db"}, CertTTL: ttl(time.Hour), FederatesWith: []string{"b.example"}, RouteHosts: []string{"shop.apps.example.org"}}, ""},
		{"dotted name", "shop.v2", sealv1.WorkloadSpec{}, `workload name "shop.v2"`},
		{"upper-case peer", "shop", sealv1.WorkloadSpec{Peers: []string{"Web"}}, `peer name "Web"`},
		{"certTTL too short", "shop", sealv1.WorkloadSpec{CertTTL: ttl(time.Second)}, `certTTL "1s"`},
		{"certTTL too long", "shop", sealv1.WorkloadSpec{CertTTL: ttl(91 * 24 * time.Hour)}, "certTTL"},
		{"own trust domain", "shop", sealv1.WorkloadSpec{FederatesWith: []string{"own.example"}}, "own trust domain"},
		{"bad trust domain", "shop", sealv1.WorkloadSpec{FederatesWith: []string{"spiffe://x"}}, "not a trust domain name"},
		{"bad route host", "shop", sealv1.WorkloadSpec{RouteHosts: []string{"*.apps.example.org"}}, `hostname "*.apps.example.org"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkSpec(&sealv1.Workload{ObjectMeta: metav1.ObjectMeta{Name: tt.cr}, Spec: tt.spec}, "own.example")
			got := ""
			if err != nil {
				got = err.Error()
			}
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && !strings.Contains(got, tt.wantErr) {
				t.Errorf("checkSpec = %q, want an error containing %q", got, tt.wantErr)
			}
		})
	}
}

func TestSpecMapping(t *testing.T) {
	created := time.Unix(2e9, 0).UTC()
	stored := store.WorkloadSpec{Name: "shop", Peers: []string{"web"}, CertTTL: "90m", FederatesWith: []string{"b.example"}, RouteHosts: []string{"h.example"}, Created: created}
	spec, err := crSpec(stored)
	if err != nil {
		t.Fatal(err)
	}
	cr := &sealv1.Workload{ObjectMeta: metav1.ObjectMeta{Name: "shop", CreationTimestamp: metav1.Unix(3e9, 0)}, Spec: spec}
	rec := &store.Workload{Spec: stored}
	if got := effectiveSpec(cr, rec, "own.example"); got.CertTTL != "90m" || !got.Created.Equal(created) || got.Peers[0] != "web" || got.RouteHosts[0] != "h.example" {
		t.Errorf("round trip = %+v, want %+v", got, stored)
	}
	cr.Spec.CertTTL.Duration = 2 * time.Hour // kubectl edit
	if got := effectiveSpec(cr, rec, "own.example"); got.CertTTL != "2h0m0s" {
		t.Errorf("after an edit certTTL = %q, want 2h0m0s", got.CertTTL)
	}
	cr.Spec.CertTTL.Duration = time.Second // invalid edit: the last accepted spec stays
	if got := effectiveSpec(cr, rec, "own.example"); got.CertTTL != "90m" {
		t.Errorf("after an invalid edit certTTL = %q, want the stored 90m", got.CertTTL)
	}
	if _, err := crSpec(store.WorkloadSpec{Name: "x", CertTTL: "soon"}); err == nil {
		t.Error("a certTTL that is not a duration was mapped")
	}
}

// FuzzEffectiveBundle feeds arbitrary resource and stored bundles to the bundle chooser: it
// must never panic, and what it returns parses for its trust domain.
func FuzzEffectiveBundle(f *testing.F) {
	f.Add("a.example", `{"keys":[],"spiffe_sequence":1}`, `{"bundle":{"trustDomain":"a.example","bundle":"{}"},"specBundleSHA256":""}`)
	f.Add("A..b", "", "")
	f.Add("a.example", `{"keys":[{"use":"x509-svid","kty":"EC","crv":"P-256","x":"AA","y":"AA","x5c":["MIIB"]}]}`, "{")
	f.Fuzz(func(t *testing.T, td, spec, stored string) {
		ftd := sealv1.FederatedTrustDomain{Spec: sealv1.FederatedTrustDomainSpec{TrustDomain: td, TrustDomainBundle: spec}}
		sec := &corev1.Secret{Data: map[string][]byte{td: []byte(stored)}}
		bundles := map[string]storedBundle{}
		var sb storedBundle
		if decodeKey(sec, td, &sb) == nil {
			bundles[td] = sb
		}
		b, err := effectiveBundle(ftd, bundles)
		if (b == nil) == (err == nil) {
			t.Fatalf("effectiveBundle = %v, %v: want exactly one", b, err)
		}
		if b != nil && b.TrustDomain != td {
			t.Fatalf("bundle for %q, want %q", b.TrustDomain, td)
		}
	})
}
