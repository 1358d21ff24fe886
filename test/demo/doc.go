// Command seal-demo is `make demo`: the whole Seal story on a local control plane, narrated step by
// step (with --keep it leaves everything running until SIGTERM or Ctrl-C: make demo-up and
// make demo-down). It starts the real etcd, kube-apiserver and kube-controller-manager (internal/testing/testenv),
// the real seal-rot and seal-webhook binaries, and a loopback OCI registry holding a signed and
// an unsigned image; then it labels a namespace, creates a Workload and an Egg, applies an
// annotated Deployment and shows what the webhook injected, shows an unsigned image refused,
// runs the injected seal-init command for two pods (as a kubelet would), and completes an mTLS
// exchange between the two peers while a third identity is refused. Last, when this machine
// can run a real node (testenv.NodeRequirements: root, containerd, the kubelet), it runs the
// pods for real: a private containerd and kubelet, seal-init and the demo app (test/demoapp)
// imported as images, and a server and a caller whose injected seal-init init containers
// redeem their Eggs before they complete mTLS, shown in their container logs; otherwise it says
// why not. Everything it starts, the node included, is stopped when Run returns.
//
// The demo is a test too: TestDemo runs it under `make test`, so the README's first command
// keeps working.
package main
