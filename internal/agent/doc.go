// Package agent is seal-agent: seal-init's rotating sidecar plus the SPIFFE Workload API on a
// Unix socket in the pod (package workloadapi). It lives apart from seal-init because gRPC
// nearly doubles a binary: seal-init, which every injected pod runs and the egg-from-image mode
// copies into the pod's memory volume, stays without it (docs/workload-api.md has the figures).
package agent
