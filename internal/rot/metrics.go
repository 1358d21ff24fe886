package rot

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the ROT's Prometheus metrics, in a registry of its own (so several Servers can
// live in one test process).
type metrics struct {
	reg         *prometheus.Registry
	issuances   *prometheus.CounterVec
	redemptions *prometheus.CounterVec
	redeemTime  prometheus.Histogram
	requestTime *prometheus.HistogramVec
	admin       *prometheus.CounterVec
	workloads   prometheus.Gauge
	refreshes   *prometheus.CounterVec
	rateLimited *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		issuances: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "seal_rot_issuances_total",
			Help: "Certificates issued, by kind (pod, external, serving, admin).",
		}, []string{"kind"}),
		redemptions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "seal_rot_redemptions_total",
			Help: "Egg redemptions, by result (ok or the reason of the refusal).",
		}, []string{"result"}),
		redeemTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "seal_rot_redeem_duration_seconds",
			Help:    "Time to handle a redemption, from decoded body to answer.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		requestTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "seal_rot_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}, []string{"route"}),
		admin: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "seal_rot_admin_actions_total",
			Help: "Admin API actions that changed or read state, by action.",
		}, []string{"action"}),
		workloads: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "seal_rot_workloads",
			Help: "Workloads the ROT serves.",
		}),
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "seal_rot_bundle_refreshes_total",
			Help: "Fetches of federated trust domains' bundles from their endpoints, by trust domain and result (ok, error).",
		}, []string{"trust_domain", "result"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "seal_rot_redeem_rate_limited_total",
			Help: "Redemptions refused with 429 by a rate limit, by reason (egg: the Egg id's limit, client: the client address's).",
		}, []string{"reason"}),
	}
	m.reg.MustRegister(m.issuances, m.redemptions, m.redeemTime, m.requestTime, m.admin, m.workloads, m.refreshes, m.rateLimited,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
