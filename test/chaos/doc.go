// Package chaos holds Seal's fault drills (issue #25): two seal-rot --kube replicas behind a
// round-robin front with one kill -9ed under load, store faults (the API server stopped, a full
// disk under the state directory) and CA and key rotations while peers talk over mTLS. They run
// real processes (testenv.Binary) on the real control plane (internal/testing/testenv).
//
// `make test` runs each drill at a short, representative size; `make chaos` runs them at full
// size (SEAL_CHAOS_FULL=1). The figures they print are in docs/reliability.md.
package chaos
