package verify

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	verifications *prometheus.CounterVec
	cacheHits     prometheus.Counter
	registry      *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		verifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "seal", Subsystem: "image",
			Name: "verifications_total",
			Help: "Image policy decisions by result (the decision's reason in snake_case), decision (allow, warn, deny), policy (the ImagePolicy or ApprovedImage that decided; empty when none matched), mode (enforce, warn, none) and namespace.",
		}, []string{"result", "decision", "policy", "mode", "namespace"}),
		cacheHits: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "seal", Subsystem: "image",
			Name: "verification_cache_hits_total",
			Help: "Signature verifications answered from the cache.",
		}),
		registry: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "seal", Subsystem: "image",
			Name:    "registry_request_duration_seconds",
			Help:    "Time spent on registry calls by operation (resolve, signatures, referrers).",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
		}, []string{"op"}),
	}
	if reg != nil {
		m.verifications = register(reg, m.verifications)
		m.cacheHits = register(reg, m.cacheHits)
		m.registry = register(reg, m.registry)
	}
	return m
}

// register adds c to reg, or returns the collector already registered under its name (a second
// Verifier on the same registry shares the counters).
func register[T prometheus.Collector](reg prometheus.Registerer, c T) T {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(T); ok {
				return existing
			}
		}
	}
	return c
}

func (m *metrics) registryTimer(op string) func() {
	start := time.Now()
	return func() { m.registry.WithLabelValues(op).Observe(time.Since(start).Seconds()) }
}
