package testenv

import (
	"strings"
	"testing"
)

func TestSumSamples(t *testing.T) {
	const text = `# HELP seal_webhook_requests_total Reviews.
# TYPE seal_webhook_requests_total counter
seal_webhook_requests_total{result="allowed",webhook="inject"} 12
seal_webhook_requests_total{result="a b}",webhook="pin"} 3 1700000000000
seal_webhook_requests_total_other 100
go_goroutines 41
go_goroutines_max 99
`
	for _, tc := range []struct {
		name    string
		metric  string
		want    float64
		wantErr string
	}{
		{name: "every label set", metric: "seal_webhook_requests_total", want: 15},
		{name: "no labels", metric: "go_goroutines", want: 41},
		{name: "absent", metric: "go_threads", wantErr: "has no go_threads"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := sumSamples(text, "http://x/metrics", tc.metric)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}
