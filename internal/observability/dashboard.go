package observability

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// ErrBadDashboard reports a dashboard that is not a Grafana dashboard JSON model with queries.
var ErrBadDashboard = errors.New("observability: bad dashboard")

// maxDashboard bounds the dashboard JSON read (Seal's is ~20 KiB).
const maxDashboard = 4 << 20

// Query is one PromQL expression of a dashboard panel.
type Query struct {
	Panel string // the panel's title
	RefID string
	Expr  string // as written, with Grafana variables
}

type panel struct {
	Title   string  `json:"title"`
	Type    string  `json:"type"`
	Panels  []panel `json:"panels"` // a collapsed row's panels
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
}

// DashboardQueries lists the PromQL queries of a Grafana dashboard JSON model, rows included.
// A panel other than a row without a query is an error, as is an empty dashboard.
func DashboardQueries(raw []byte) ([]Query, error) {
	if len(raw) > maxDashboard {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrBadDashboard, maxDashboard)
	}
	var d struct {
		Title  string  `json:"title"`
		Panels []panel `json:"panels"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadDashboard, err)
	}
	var out []Query
	var walk func(ps []panel) error
	walk = func(ps []panel) error {
		for _, p := range ps {
			if p.Type == "row" {
				if err := walk(p.Panels); err != nil {
					return err
				}
				continue
			}
			n := 0
			for _, t := range p.Targets {
				if strings.TrimSpace(t.Expr) == "" {
					continue
				}
				out = append(out, Query{Panel: p.Title, RefID: t.RefID, Expr: t.Expr})
				n++
			}
			if n == 0 {
				return fmt.Errorf("%w: panel %q has no PromQL query", ErrBadDashboard, p.Title)
			}
		}
		return nil
	}
	if err := walk(d.Panels); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: %q has no panels with queries", ErrBadDashboard, d.Title)
	}
	return out, nil
}

// Evaluable replaces the Grafana variables Seal's dashboard uses with what Grafana would send
// for "all namespaces" over a short range, so Prometheus can evaluate the query as is.
func Evaluable(expr string, rateInterval string) string {
	return strings.NewReplacer(
		"$__rate_interval", rateInterval,
		"$__range", "1h",
		"${namespace}", ".*",
		"$namespace", ".*",
	).Replace(expr)
}
