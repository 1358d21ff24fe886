package webhook

import (
	"runtime"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/seal-dev/seal/internal/inject"
	"github.com/seal-dev/seal/internal/version"
)

// metrics are seal-webhook's own series (controller-runtime adds
// controller_runtime_webhook_* per path).
type metrics struct {
	requests   *prometheus.CounterVec   // by webhook and result
	injections prometheus.Counter       //
	skips      *prometheus.CounterVec   // by reason
	denials    *prometheus.CounterVec   // by reason
	latency    *prometheus.HistogramVec // by webhook
}

// Results of an injection review (label "result" of seal_webhook_requests_total).
const (
	resultInjected = "injected"
	resultSkipped  = "skipped"
	resultDenied   = "denied"
	resultError    = "error"
)

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "seal_webhook_requests_total", Help: "Admission reviews handled, by webhook and result (injected, skipped, denied, error).",
		}, []string{"webhook", "result"}),
		injections: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "seal_webhook_injections_total", Help: "Pods given a Seal identity (seal-init injected).",
		}),
		skips: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "seal_webhook_skips_total", Help: "Pods left alone, by reason.",
		}, []string{"reason"}),
		denials: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "seal_webhook_denials_total", Help: "Pods denied, by reason (refused: bad seal.dev settings; bad-request: undecodable review).",
		}, []string{"reason"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "seal_webhook_review_duration_seconds",
			Help:    "Time to answer an admission review, from decoded request to response.",
			Buckets: []float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1},
		}, []string{"webhook"}),
	}
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "seal_webhook_build_info", Help: "1, labelled with the seal-webhook build's version and Go version.",
	}, []string{"version", "go_version"})
	build.WithLabelValues(version.Get(), runtime.Version()).Set(1)
	for _, c := range []prometheus.Collector{m.requests, m.injections, m.skips, m.denials, m.latency, build} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for _, r := range inject.SkipReasons {
		m.skips.WithLabelValues(string(r))
	}
	for _, r := range []string{resultInjected, resultSkipped, resultDenied, resultError} {
		m.requests.WithLabelValues("inject", r)
	}
	m.denials.WithLabelValues("refused")
	return m, nil
}
