package observability_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seal-dev/seal/internal/observability"
	"github.com/seal-dev/seal/internal/testing/testenv"
)

func dashboard(t *testing.T) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "charts", "seal", "files", "grafana", "seal-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestDashboardQueries(t *testing.T) {
	qs, err := observability.DashboardQueries(dashboard(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) < 15 {
		t.Errorf("got %d queries, want the dashboard's ~20", len(qs))
	}
	for _, q := range qs {
		e := observability.Evaluable(q.Expr, "1m")
		if strings.Contains(e, "$") {
			t.Errorf("panel %q: %q keeps a Grafana variable Evaluable does not replace", q.Panel, e)
		}
		if !strings.Contains(e, "seal_") && !strings.Contains(e, "controller_runtime_webhook_") {
			t.Errorf("panel %q: %q reads no Seal metric", q.Panel, e)
		}
	}
}

func TestDashboardQueriesErrors(t *testing.T) {
	for _, tt := range []struct{ name, in, want string }{
		{"not json", `{`, "unexpected end"},
		{"no panels", `{"title":"x"}`, "no panels"},
		{"panel without query", `{"panels":[{"type":"stat","title":"lonely","targets":[{"expr":" "}]}]}`, `"lonely" has no PromQL`},
		{"row without query inside", `{"panels":[{"type":"row","panels":[{"type":"stat","title":"in row"}]}]}`, `"in row"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := observability.DashboardQueries([]byte(tt.in))
			if !errors.Is(err, observability.ErrBadDashboard) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrBadDashboard mentioning %q", err, tt.want)
			}
		})
	}
}

func FuzzDashboardQueries(f *testing.F) {
	f.Add([]byte(`{"panels":[{"type":"row","panels":[{"type":"stat","title":"a","targets":[{"expr":"up"}]}]}]}`))
	f.Add([]byte(`{"panels":[{"type":"timeseries","targets":[{"expr":"rate(x[$__rate_interval])","refId":"A"}]}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		qs, err := observability.DashboardQueries(b)
		if err == nil && len(qs) == 0 {
			t.Fatal("no error and no queries")
		}
		if err != nil && !errors.Is(err, observability.ErrBadDashboard) {
			t.Fatalf("error %v does not wrap ErrBadDashboard", err)
		}
	})
}

func ExampleEvaluable() {
	fmt.Println(observability.Evaluable(`sum(rate(seal_image_verifications_total{namespace=~"$namespace"}[$__rate_interval]))`, "1m"))
	// Output: sum(rate(seal_image_verifications_total{namespace=~".*"}[1m]))
}
