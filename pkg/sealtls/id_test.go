package sealtls_test

import (
	"errors"
	"testing"

	"github.com/seal-dev/seal/pkg/sealtls"
)

func TestParseWorkloadIDString(t *testing.T) {
	tests := []struct {
		in                    string
		wantTD, wantW, wantP  string
		wantNotWorkload, fail bool
	}{
		{in: "spiffe://prod.example.org/workload/payments/peer/frontend", wantTD: "prod.example.org", wantW: "payments", wantP: "frontend"},
		{in: "spiffe://td/workload/w/peer/any", wantTD: "td", wantW: "w", wantP: "any"},
		{in: "spiffe://prod.example.org/seal/rot", wantNotWorkload: true},
		{in: "spiffe://prod.example.org", wantNotWorkload: true},
		{in: "spiffe://prod.example.org/workload/payments", wantNotWorkload: true},
		{in: "spiffe://prod.example.org/workload/payments/peer/a/b", wantNotWorkload: true},
		{in: "spiffe://prod.example.org/workloads/payments/peer/a", wantNotWorkload: true},
		{in: "spiffe://prod.example.org/workload/payments/peers/a", wantNotWorkload: true},
		{in: "spiffe://prod.example.org/workload//peer/a", fail: true},
		{in: "spiffe://prod.example.org/workload/../peer/a", fail: true},
		{in: "spiffe://Prod.example.org/workload/p/peer/a", fail: true},
		{in: "https://prod.example.org/workload/p/peer/a", fail: true},
		{in: "", fail: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := sealtls.ParseWorkloadIDString(tt.in)
			switch {
			case tt.wantNotWorkload:
				if !errors.Is(err, sealtls.ErrNotWorkloadID) {
					t.Fatalf("err = %v, want ErrNotWorkloadID", err)
				}
				return
			case tt.fail:
				if err == nil {
					t.Fatalf("got %+v, want an error", got)
				}
				return
			case err != nil:
				t.Fatalf("err = %v", err)
			}
			if got.TrustDomain.Name() != tt.wantTD || got.Workload != tt.wantW || got.Peer != tt.wantP {
				t.Errorf("got %s %s %s, want %s %s %s", got.TrustDomain, got.Workload, got.Peer, tt.wantTD, tt.wantW, tt.wantP)
			}
			if got.String() != tt.in {
				t.Errorf("String() = %s, want %s", got.String(), tt.in)
			}
		})
	}
}

func FuzzParseWorkloadIDString(f *testing.F) {
	for _, s := range []string{
		"spiffe://prod.example.org/workload/payments/peer/frontend",
		"spiffe://prod.example.org/seal/rot",
		"spiffe://a/workload/b/peer/c/d",
		"spiffe://a/workload//peer/c",
		"spiffe://a/workload/%2F/peer/c",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		w, err := sealtls.ParseWorkloadIDString(s)
		if err != nil {
			return
		}
		// A parsed ID round-trips to the same text and builds a valid SPIFFE ID.
		if w.String() != s {
			t.Fatalf("String() = %q, input %q", w.String(), s)
		}
		id, err := w.ID()
		if err != nil || id.String() != s {
			t.Fatalf("ID() = %v, %v; input %q", id, err, s)
		}
		if w.Workload == "" || w.Peer == "" {
			t.Fatalf("empty workload or peer from %q", s)
		}
	})
}
