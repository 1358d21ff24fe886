package rot

import (
	"runtime"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/seal-dev/seal/internal/version"
)

// stateMetrics reports, at each scrape, what alerts are written against: the build, when each
// CA in use expires, and when each federated bundle was last refreshed (docs/operations.md).
type stateMetrics struct{ s *Server }

var (
	buildInfoDesc = prometheus.NewDesc("seal_rot_build_info",
		"1, labelled with the seal-rot build's version and Go version.", []string{"version", "go_version"}, nil)
	caExpiryDesc = prometheus.NewDesc("seal_rot_ca_expiry_timestamp_seconds",
		"When each CA in use expires (Unix seconds), by kind (rot or workload), workload and SHA-256 fingerprint; current is 1 for the CA that signs now.",
		[]string{"kind", "workload", "fingerprint", "current"}, nil)
	bundleRefreshDesc = prometheus.NewDesc("seal_rot_bundle_last_refresh_timestamp_seconds",
		"When each federated trust domain's bundle was last fetched or imported (Unix seconds).", []string{"trust_domain"}, nil)
)

func (m stateMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- buildInfoDesc
	ch <- caExpiryDesc
	ch <- bundleRefreshDesc
}

func (m stateMetrics) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(buildInfoDesc, prometheus.GaugeValue, 1, version.Get(), runtime.Version())
	v := m.s.v.Load()
	if v == nil {
		return
	}
	current := func(b bool) string {
		if b {
			return "1"
		}
		return "0"
	}
	for _, c := range v.roots {
		ch <- prometheus.MustNewConstMetric(caExpiryDesc, prometheus.GaugeValue, float64(c.Cert.NotAfter.Unix()),
			"rot", "", c.Fingerprint(), current(c == v.root))
	}
	for name, wv := range v.workloads {
		cur, _ := wv.signing(m.s.cfg.Now())
		for _, c := range wv.cas {
			ch <- prometheus.MustNewConstMetric(caExpiryDesc, prometheus.GaugeValue, float64(c.Cert.NotAfter.Unix()),
				"workload", name, c.Fingerprint(), current(c == cur))
		}
	}
	m.s.mu.Lock()
	defer m.s.mu.Unlock()
	for td, b := range m.s.st.Bundles {
		if b.LastRefreshed != nil {
			ch <- prometheus.MustNewConstMetric(bundleRefreshDesc, prometheus.GaugeValue, float64(b.LastRefreshed.Unix()), td)
		}
	}
}
