package rot_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/seal-dev/seal/internal/rot/rottest"
	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/version"
)

// TestStateMetrics: /metrics tells when every CA in use expires (which one is current) and when
// each federated bundle was last refreshed, and which build runs: what alerts are written on.
func TestStateMetrics(t *testing.T) {
	r := rottest.Start(t)
	r.CreateWorkload(t, rotapi.Workload{Name: "w"})
	if err := r.Server.RotateWorkloadCA(ctx(t), "w"); err != nil {
		t.Fatal(err)
	}
	other := rottest.Start(t, rottest.WithTrustDomain("other.example"))
	resp, err := other.Admin.HTTP.Get(other.URL + rotapi.PathExport)
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := r.Admin.Do(ctx(t), http.MethodPost, rotapi.PathBundles, rotapi.FederatedBundle{TrustDomain: "other.example", Bundle: string(doc)}, nil); err != nil {
		t.Fatal(err)
	}
	var cas []rotapi.CA
	if err := r.Admin.Do(ctx(t), http.MethodGet, rotapi.PathCAs, nil, &cas); err != nil {
		t.Fatal(err)
	}
	resp, err = r.Client(t, nil).HTTP.Get(r.URL + rotapi.PathMetrics)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	body := string(b)
	if len(cas) != 3 {
		t.Fatalf("ca list has %d CAs, want the ROT CA and two of workload w", len(cas))
	}
	for _, w := range []string{
		`seal_rot_build_info{go_version="go`, `version="` + version.Get() + `"} 1`,
		`seal_rot_bundle_last_refresh_timestamp_seconds{trust_domain="other.example"} `,
	} {
		if !strings.Contains(body, w) {
			t.Errorf("/metrics lacks %q", w)
		}
	}
	for _, c := range cas {
		prefix := fmt.Sprintf(`seal_rot_ca_expiry_timestamp_seconds{current="%s",fingerprint="%s",kind="%s",workload="%s"} `, map[bool]string{true: "1", false: "0"}[c.Current], c.Fingerprint, c.Kind, c.Workload)
		i := strings.Index(body, prefix)
		if i < 0 {
			t.Errorf("/metrics lacks %q", prefix)
			continue
		}
		var got float64
		if _, err := fmt.Sscan(body[i+len(prefix):], &got); err != nil || int64(got) != c.NotAfter.Unix() {
			t.Errorf("%s%v (%v), want %d", prefix, got, err, c.NotAfter.Unix())
		}
	}
}
