package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/seal-dev/seal/internal/testing/testenv"
)

// TrustDomain is the demo ROT's SPIFFE trust domain.
const TrustDomain = "demo.seal.dev"

// Options configure Run.
type Options struct {
	// Out receives the narration.
	Out io.Writer
	// BinDir holds seal-rot, seal-webhook, seal-init, seal-agent and sealctl (make build writes bin/).
	BinDir string
	// Dir is the demo's working directory; empty means a new temporary one. Run removes it at
	// the end unless Keep is set.
	Dir string
	// Keep leaves everything running until ctx ends (make demo-up); Ready is called first with
	// the admin kubeconfig's path.
	Keep  bool
	Ready func(kubeconfig string)
}

// Run tells the whole story and stops everything it started before it returns.
func Run(ctx context.Context, o Options) (err error) {
	if o.Out == nil {
		o.Out = os.Stdout
	}
	for _, b := range []string{"seal-rot", "seal-webhook", "seal-init", "seal-agent", "sealctl"} {
		if _, err := os.Stat(filepath.Join(o.BinDir, b)); err != nil {
			return fmt.Errorf("demo: %s not found in %s: run `make build` first", b, o.BinDir)
		}
	}
	dir := o.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "seal-demo-"); err != nil {
			return err
		}
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if !o.Keep {
		defer os.RemoveAll(dir)
	}
	h := &cleanups{}
	defer h.close()
	d := &story{n: &narrator{w: o.Out}, h: h, dir: dir, bin: o.BinDir}
	if err := d.run(ctx); err != nil {
		return err
	}
	if o.Keep {
		if o.Ready != nil {
			o.Ready(d.env.Kubeconfig)
		}
		<-ctx.Done()
	}
	return nil
}

// story holds what the steps share.
type story struct {
	n       *narrator
	h       *cleanups
	dir     string
	bin     string
	env     *testenv.Env
	pods    []corev1.Pod
	podDirs []string
	rot     *rotProc
	wh      *webhookProc
	img     *images
}

func (d *story) run(ctx context.Context) error {
	n := d.n
	fmt.Fprintf(n.w, "Seal demo: one Root of Trust, one cluster, two pods that prove who they are.\n")

	n.Step("Starting a real control plane: etcd, kube-apiserver and kube-controller-manager v1.36.3.")
	env, err := testenv.Launch(testenv.Options{Dir: filepath.Join(d.dir, "k8s")})
	if err != nil {
		return err
	}
	d.h.Cleanup(func() { _ = env.Stop() })
	d.env = env
	n.Say("API server at %s (admin kubeconfig %s)", env.Config.Host, env.Kubeconfig)
	n.Done("a real control plane ran the Deployment through the real ReplicaSet controller")

	steps := []func(context.Context) error{d.startROT, d.startRegistry, d.startWebhook, d.enroll, d.deploy, d.refuseUnsigned, d.redeem, d.handshake, d.realNode}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return err
		}
	}
	n.Summary()
	return nil
}

// sh prints a shell-like line for what the demo does through a binary.
func (d *story) sh(args ...string) {
	d.n.Say("$ %s", strings.Join(args, " "))
}

func waitFor(ctx context.Context, timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
