package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	bin := flag.String("bin", "bin", "directory holding seal-rot, seal-webhook, seal-init and sealctl (make build)")
	dir := flag.String("dir", "", "working directory (default: a new temporary directory, removed at the end)")
	keep := flag.Bool("keep", false, "leave everything running until SIGTERM or Ctrl-C, and print the KUBECONFIG")
	ready := flag.String("ready-file", "", "with --keep, write the admin kubeconfig's path to this file once everything runs")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	err := Run(ctx, Options{Out: os.Stdout, BinDir: *bin, Dir: *dir, Keep: *keep, Ready: func(kubeconfig string) {
		fmt.Printf("\nThe demo keeps running. Explore it with:\n  export KUBECONFIG=%s\n  kubectl get pods -n shop -o yaml\n  kubectl get pods -n live -o wide   # on the real kubelet, when the demo could run one\nStop it with: make demo-down\n", kubeconfig)
		if *ready != "" {
			_ = os.WriteFile(*ready, []byte(kubeconfig+"\n"), 0o600)
		}
	}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "seal-demo:", err)
		os.Exit(1)
	}
}
