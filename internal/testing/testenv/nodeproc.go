package testenv

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// nodeProcs owns the node's daemons and tears everything down in order.
type nodeProcs struct {
	node       *Node
	containerd *daemon
	kubelet    *daemon
}

// daemon is a long-running child process in its own process group.
type daemon struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan error
}

func startDaemon(name, logFile string, bin string, args ...string) (*daemon, error) {
	f, err := os.Create(logFile)
	if err != nil {
		return nil, fmt.Errorf("testenv: %w", err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("testenv: starting %s: %w", name, err)
	}
	d := &daemon{name: name, cmd: cmd, log: logFile, done: make(chan error, 1)}
	go func() { d.done <- cmd.Wait(); f.Close() }()
	return d, nil
}

// exited reports whether the daemon has stopped, with its exit error.
func (d *daemon) exited() (bool, error) {
	select {
	case err := <-d.done:
		d.done <- err
		return true, err
	default:
		return false, nil
	}
}

// stop sends SIGTERM to the process group, then SIGKILL after grace.
func (d *daemon) stop(grace time.Duration) {
	_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case err := <-d.done:
		d.done <- err
	case <-time.After(grace):
		_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
		err := <-d.done
		d.done <- err
	}
}

func (d *daemon) tail(n int) string {
	if d == nil {
		return "(not started)"
	}
	b, _ := os.ReadFile(d.log)
	return tail(b, n)
}

func (p *nodeProcs) startContainerd() error {
	n := p.node
	root, state := filepath.Join(n.Dir, "containerd"), filepath.Join(n.Dir, "containerd-state")
	cniConf, cniBin := filepath.Join(n.Dir, "cni", "net.d"), filepath.Join(n.Dir, "cni", "bin")
	for _, d := range []string{root, state, cniConf, cniBin} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("testenv: %w", err)
		}
	}
	// Pods here use the host's network, so no CNI plugin ever runs; the CRI plugin still wants a
	// network config before it reports the network ready, and the kubelet the node Ready.
	conflist := `{"cniVersion":"0.4.0","name":"seal-host-network","plugins":[{"type":"loopback"}]}`
	if err := os.WriteFile(filepath.Join(cniConf, "10-seal.conflist"), []byte(conflist), 0o600); err != nil {
		return fmt.Errorf("testenv: %w", err)
	}
	def, err := exec.Command("containerd", "config", "default").Output()
	if err != nil {
		return fmt.Errorf("testenv: containerd config default: %w", err)
	}
	// The opt plugin installs into /opt/containerd by default: keep it private too.
	def = bytes.Replace(def, []byte(`path = "/opt/containerd"`), []byte(fmt.Sprintf("path = %q", filepath.Join(root, "opt"))), 1)
	cfg, err := containerdConfig(string(def), map[string]string{
		"root":                   root,
		"state":                  state,
		"address":                n.ContainerdAddress,
		"restrict_oom_score_adj": "true",
		"sandbox_image":          PauseImage,
		"bin_dir":                cniBin,
		"conf_dir":               cniConf,
	})
	if err != nil {
		return err
	}
	if f := n.env.NodeContainerdConfig; f != nil {
		cfg = f(n.Dir, cfg)
	}
	cfgFile := filepath.Join(n.Dir, "containerd.toml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		return fmt.Errorf("testenv: %w", err)
	}
	p.containerd, err = startDaemon("containerd", filepath.Join(n.Dir, "containerd.log"), "containerd",
		"--config", cfgFile, "--root", root, "--state", state, "--address", n.ContainerdAddress)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := n.ctr(ctx, "version")
		cancel()
		if err == nil {
			return nil
		}
		if done, werr := p.containerd.exited(); done {
			return fmt.Errorf("testenv: containerd exited at once (%v):\n%s", werr, p.containerd.tail(4000))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("testenv: containerd not answering on %s after 60s: %v\n%s", n.ContainerdAddress, err, p.containerd.tail(4000))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// containerdConfig sets `key = value` lines of containerd's default TOML config; every key must
// be present exactly once.
func containerdConfig(def string, set map[string]string) (string, error) {
	seen := map[string]int{}
	var out strings.Builder
	sc := bufio.NewScanner(strings.NewReader(def))
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if k, _, ok := strings.Cut(trimmed, " = "); ok {
			if v, want := set[k]; want && !(k == "address" && !strings.Contains(trimmed, ".sock")) {
				seen[k]++
				indent := line[:len(line)-len(strings.TrimLeft(line, " \t"))]
				if v != "true" && v != "false" {
					v = fmt.Sprintf("%q", v)
				}
				line = indent + k + " = " + v
			}
		}
		out.WriteString(line + "\n")
	}
	for k := range set {
		if seen[k] != 1 {
			return "", fmt.Errorf("testenv: containerd default config has %d %q settings, want 1", seen[k], k)
		}
	}
	return out.String(), nil
}

const kubeletConfig = `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: %d
healthzBindAddress: 127.0.0.1
healthzPort: %d
readOnlyPort: 0
containerRuntimeEndpoint: unix://%s
cgroupDriver: cgroupfs
cgroupsPerQOS: false
enforceNodeAllocatable: []
failSwapOn: false
failCgroupV1: false
localStorageCapacityIsolation: false
evictionHard: {}
podLogsDir: %s
volumePluginDir: %s
authentication:
  anonymous:
    enabled: true
  webhook:
    enabled: false
authorization:
  mode: AlwaysAllow
nodeStatusUpdateFrequency: 4s
fileCheckFrequency: 5s
syncFrequency: 10s
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
`

func (p *nodeProcs) startKubelet() error {
	n := p.node
	port, err := freePort()
	if err != nil {
		return fmt.Errorf("testenv: %w", err)
	}
	healthz, err := freePort()
	if err != nil {
		return fmt.Errorf("testenv: %w", err)
	}
	for _, d := range []string{n.RootDir, n.PodLogsDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("testenv: %w", err)
		}
	}
	cfgFile := filepath.Join(n.Dir, "kubelet.yaml")
	cfg := fmt.Sprintf(kubeletConfig, port, healthz, n.ContainerdAddress, n.PodLogsDir, filepath.Join(n.Dir, "volume-plugins"))
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		return fmt.Errorf("testenv: %w", err)
	}
	p.kubelet, err = startDaemon("kubelet", filepath.Join(n.Dir, "kubelet.log"), filepath.Join(ToolsDir(), "kubelet"),
		"--config="+cfgFile,
		"--kubeconfig="+n.env.Kubeconfig,
		"--hostname-override="+n.Name,
		"--node-ip=127.0.0.1",
		"--root-dir="+n.RootDir,
		"--cert-dir="+filepath.Join(n.Dir, "kubelet-pki"),
		"-v=2",
	)
	if err != nil {
		return err
	}
	time.Sleep(300 * time.Millisecond)
	if done, werr := p.kubelet.exited(); done {
		return fmt.Errorf("testenv: kubelet exited at once (%v):\n%s", werr, p.kubelet.tail(4000))
	}
	return nil
}
