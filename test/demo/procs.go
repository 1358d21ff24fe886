package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// process is a Seal binary the demo runs, with its output in a log file.
type process struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan error
}

func start(dir, bin string, env []string, args ...string) (*process, error) {
	name := filepath.Base(bin)
	logPath := filepath.Join(dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("demo: starting %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, log: logPath, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait(); f.Close() }()
	return p, nil
}

// stop sends SIGTERM and waits up to ten seconds before killing the process group.
func (p *process) stop() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// waitHTTPS polls url (over TLS trusting caPEM when not nil, read again each time since the
// process may write it)
// until it answers 200, the process exits, or a minute passes.
func (p *process) waitHTTPS(ctx context.Context, url string, caPEM func() ([]byte, error)) error {
	deadline := time.Now().Add(time.Minute)
	var last error
	for time.Now().Before(deadline) {
		select {
		case err := <-p.done:
			b, _ := os.ReadFile(p.log)
			return fmt.Errorf("demo: %s exited (%v):\n%s", p.name, err, b)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		c := &http.Client{Timeout: 2 * time.Second}
		if caPEM != nil {
			pem, err := caPEM()
			if err != nil {
				last = err
				continue
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				last = errors.New("no CA certificate yet")
				continue
			}
			c.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
		}
		resp, err := c.Get(url)
		if err != nil {
			last = err
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return nil
		}
		last = fmt.Errorf("%s answered %s", url, resp.Status)
	}
	return fmt.Errorf("demo: %s not ready after a minute: %v (log: %s)", p.name, last, p.log)
}

// freePort returns a loopback port nobody listens on right now.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
