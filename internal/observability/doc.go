// Package observability holds what Seal ships for its operators' monitoring stack besides the
// metrics themselves: it reads the Grafana dashboard (charts/seal/files/grafana) to list every
// panel's PromQL query, with Grafana's variables replaced so a real Prometheus can evaluate
// it. Its tests check the alerting rules (charts/seal/files/prometheus) with the real promtool
// (check rules, test rules) and `make dashboard-check` (hack/dashboardcheck) evaluates each
// dashboard query on a real Prometheus scraping a running seal-rot and seal-webhook.
package observability
