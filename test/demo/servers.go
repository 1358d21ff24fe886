package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/seal-dev/seal/internal/servingcert"
	"github.com/seal-dev/seal/internal/testing/testenv"
)

type rotProc struct {
	*process
	url, admin string
}

func (d *story) startROT(ctx context.Context) error {
	d.n.Step("Starting seal-rot, the Root of Trust, for trust domain %s.", TrustDomain)
	port, err := freePort()
	if err != nil {
		return err
	}
	state := filepath.Join(d.dir, "rot")
	addr := "127.0.0.1:" + strconv.Itoa(port)
	d.sh("seal-rot", "serve", "--state-dir", state, "--listen", addr, "--trust-domain", TrustDomain)
	p, err := start(d.dir, filepath.Join(d.bin, "seal-rot"), nil, "serve", "--state-dir", state, "--listen", addr, "--trust-domain", TrustDomain)
	if err != nil {
		return err
	}
	d.h.Cleanup(p.stop)
	r := &rotProc{process: p, url: "https://" + addr, admin: filepath.Join(state, "admin")}
	if err := p.waitHTTPS(ctx, r.url+"/healthz", func() ([]byte, error) { return os.ReadFile(filepath.Join(r.admin, "ca.crt")) }); err != nil {
		return err
	}
	d.rot = r
	d.n.Say("It created the ROT CA on first start and wrote admin credentials to %s.", r.admin)
	return nil
}

// sealctl runs the real sealctl against the demo ROT and returns its stdout.
func (d *story) sealctl(ctx context.Context, stdin io.Reader, args ...string) (string, error) {
	d.sh(append([]string{"sealctl"}, args...)...)
	cmd := exec.CommandContext(ctx, filepath.Join(d.bin, "sealctl"), args...)
	cmd.Env = append(os.Environ(), "SEAL_ROT="+d.rot.url, "SEAL_ADMIN="+d.rot.admin)
	var out, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &out, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("demo: sealctl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out.String(), nil
}

type webhookProc struct {
	*process
	port int
}

func (d *story) startWebhook(ctx context.Context) error {
	d.n.Step("Starting seal-webhook and registering it with the API server (the chart's webhook configurations).")
	if err := d.env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "seal-system"}}); err != nil {
		return err
	}
	certDir := filepath.Join(d.dir, "webhook-certs")
	caPEM, err := servingcert.WriteFiles(certDir, []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)}, time.Now(), 24*time.Hour)
	if err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	metrics, err := freePort()
	if err != nil {
		return err
	}
	args := []string{"--host", "127.0.0.1", "--port", strconv.Itoa(port), "--cert-dir", certDir,
		"--kubeconfig", d.env.Kubeconfig, "--namespace", "seal-system",
		"--mutating-config-name=", "--validating-config-name=",
		"--init-image", d.img.initImage, "--trust-domain", TrustDomain,
		"--metrics-addr", "127.0.0.1:" + strconv.Itoa(metrics)}
	d.sh(append([]string{"seal-webhook"}, args...)...)
	p, err := start(d.dir, filepath.Join(d.bin, "seal-webhook"), nil, args...)
	if err != nil {
		return err
	}
	d.h.Cleanup(p.stop)
	if err := p.waitHTTPS(ctx, fmt.Sprintf("http://127.0.0.1:%d/readyz", metrics), nil); err != nil {
		return err
	}
	d.wh = &webhookProc{process: p, port: port}
	return d.registerWebhooks(ctx, caPEM)
}

// registerWebhooks creates the webhook configurations of manifests/seal.yaml (rendered from the
// chart), calling seal-webhook on loopback instead of through its Service.
func (d *story) registerWebhooks(ctx context.Context, caPEM []byte) error {
	m, v, err := testenv.WebhookConfigurations()
	if err != nil {
		return err
	}
	testenv.CallAt(m, v, fmt.Sprintf("https://127.0.0.1:%d", d.wh.port), caPEM)
	for _, w := range m.Webhooks {
		d.n.Say("mutating   %-26s → %s", w.Name, *w.ClientConfig.URL)
	}
	for _, w := range v.Webhooks {
		d.n.Say("validating %-26s → %s", w.Name, *w.ClientConfig.URL)
	}
	if err := d.env.Client.Create(ctx, m); err != nil {
		return err
	}
	return d.env.Client.Create(ctx, v)
}
