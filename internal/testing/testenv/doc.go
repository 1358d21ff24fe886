// Package testenv starts a real Kubernetes control plane for tests: etcd and kube-apiserver
// through controller-runtime's envtest, and kube-controller-manager as a process running the
// deployment, replicaset and garbage-collector controllers, so a Deployment really becomes pods.
// Seal's CRDs (charts/seal/files/crds) are installed.
//
// The binaries are built from the Go module proxy by `make k8s-tools` into $SEAL_K8S_TOOLS
// (default ~/.cache/seal/k8s/v1.36.3). Under `go test -short` control-plane tests are skipped;
// otherwise missing binaries fail the test with the command that builds them.
package testenv
