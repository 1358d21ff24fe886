package main_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/testing/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.CleanupBinaries()
	os.Exit(code)
}

type proc struct {
	cmd    *exec.Cmd
	stderr *testenv.LogBuffer
	done   chan error
}

func start(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), stderr: &testenv.LogBuffer{}, done: make(chan error, 1)}
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// wait returns the exit error of the process, failing the test after a timeout.
func (p *proc) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("seal-rot did not exit; stderr:\n%s", p.stderr)
		return nil
	}
}

func freeAddrB(t testing.TB) string { return freeAddr(t) }

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// adminClient waits for the ROT at addr to be ready and returns an admin client.
func adminClient(t *testing.T, p *proc, addr, adminDir string) *rotapi.Client {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := tryClient(addr, adminDir)
		if err == nil {
			if err = c.Do(context.Background(), http.MethodGet, rotapi.PathReadyz, nil, nil); err == nil {
				t.Cleanup(c.HTTP.CloseIdleConnections)
				return c
			}
		}
		select {
		case e := <-p.done:
			p.done <- e
			t.Fatalf("seal-rot exited (%v); stderr:\n%s", e, p.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("seal-rot not ready: %v; stderr:\n%s", err, p.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func tryClient(addr, adminDir string) (*rotapi.Client, error) {
	caPEM, err := os.ReadFile(filepath.Join(adminDir, "ca.crt"))
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(adminDir, "tls.crt"), filepath.Join(adminDir, "tls.key"))
	if err != nil {
		return nil, err
	}
	return rotapi.NewClient("https://"+addr, caPEM, &cert)
}

func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		out[p] = fi.Mode().String() + " " + fi.ModTime().String() + " " + string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSealRotProcess(t *testing.T) {
	bin := testenv.Binary(t, "./cmd/rot")
	state := filepath.Join(t.TempDir(), "state")
	adminDir := filepath.Join(state, "admin")
	addr := freeAddr(t)
	args := []string{"serve", "--state-dir", state, "--listen", addr, "--trust-domain", "proc.seal.dev"}

	first := start(t, bin, args...)
	c := adminClient(t, first, addr, adminDir)
	if fi, err := os.Stat(adminDir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("admin dir: %v mode %v, want 0700", err, fi.Mode().Perm())
	}
	for _, f := range []string{"tls.crt", "tls.key", "ca.crt"} {
		if fi, err := os.Stat(filepath.Join(adminDir, f)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("admin/%s: %v, mode %v, want 0600", f, err, fi.Mode().Perm())
		}
	}
	var w rotapi.Workload
	if err := c.Do(context.Background(), http.MethodPost, rotapi.PathWorkloads, rotapi.Workload{Name: "payments"}, &w); err != nil {
		t.Fatal(err)
	}

	t.Run("second process on the same state dir is refused", func(t *testing.T) {
		second := start(t, bin, "serve", "--state-dir", state, "--listen", freeAddr(t), "--trust-domain", "proc.seal.dev")
		err := second.wait(t)
		if err == nil || !strings.Contains(second.stderr.String(), "in use by another seal-rot") {
			t.Errorf("second seal-rot: exit %v, stderr:\n%s\nwant a refusal naming the lock", err, second.stderr)
		}
	})

	caBefore, _ := os.ReadFile(filepath.Join(adminDir, "ca.crt"))
	adminBefore := snapshot(t, adminDir)
	if err := first.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := first.wait(t); err != nil {
		t.Fatalf("SIGTERM: exit %v, want a clean exit; stderr:\n%s", err, first.stderr)
	}

	t.Run("restart keeps the same CA", func(t *testing.T) {
		again := start(t, bin, args...)
		c := adminClient(t, again, addr, adminDir) // the old admin cert still works: same CA
		var got rotapi.Workload
		if err := c.Do(context.Background(), http.MethodGet, rotapi.Path(rotapi.PathWorkload, "payments"), nil, &got); err != nil {
			t.Fatal(err)
		}
		if got.CAFingerprint != w.CAFingerprint {
			t.Errorf("Workload CA changed across restart: %s -> %s", w.CAFingerprint, got.CAFingerprint)
		}
		resp, err := c.HTTP.Get("https://" + addr + rotapi.PathBundle)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if caAfter, _ := os.ReadFile(filepath.Join(adminDir, "ca.crt")); !bytes.Equal(caAfter, caBefore) {
			t.Error("admin/ca.crt changed across restart")
		}
		if after := snapshot(t, adminDir); len(after) != len(adminBefore) {
			t.Error("admin credentials rewritten on restart")
		} else {
			for k, v := range adminBefore {
				if after[k] != v {
					t.Errorf("%s rewritten on restart", k)
				}
			}
		}
		_ = again.cmd.Process.Signal(syscall.SIGTERM)
		if err := again.wait(t); err != nil {
			t.Fatalf("exit %v; stderr:\n%s", err, again.stderr)
		}
	})

	t.Run("admin-cert reissues credentials that work", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "admin2")
		b, err := exec.Command(bin, "admin-cert", "--state-dir", state, "--out", out).CombinedOutput()
		if err != nil {
			t.Fatalf("admin-cert: %v\n%s", err, b)
		}
		again := start(t, bin, args...)
		c := adminClient(t, again, addr, out)
		if err := c.Do(context.Background(), http.MethodGet, rotapi.PathWorkloads, nil, nil); err != nil {
			t.Errorf("reissued admin credentials refused: %v", err)
		}
		if err := adminClient(t, again, addr, adminDir).Do(context.Background(), http.MethodGet, rotapi.PathWorkloads, nil, nil); err != nil {
			t.Errorf("first-start admin credentials refused beside the reissued ones: %v", err)
		}
		b, err = exec.Command(bin, "admin-cert", "--state-dir", state, "--out", out).CombinedOutput()
		if err == nil || !strings.Contains(string(b), "stop seal-rot first") {
			t.Errorf("admin-cert while seal-rot runs: %v\n%s", err, b)
		}
		_ = again.cmd.Process.Signal(syscall.SIGTERM)
		if err := again.wait(t); err != nil {
			t.Fatalf("exit %v; stderr:\n%s", err, again.stderr)
		}
	})

	t.Run("admin-cert --revoke-all-but-new ends every other admin certificate", func(t *testing.T) {
		out := filepath.Join(filepath.Dir(state), "admin3") // outlives this subtest
		b, err := exec.Command(bin, "admin-cert", "--state-dir", state, "--out", out, "--revoke-all-but-new").CombinedOutput()
		if err != nil {
			t.Fatalf("admin-cert --revoke-all-but-new: %v\n%s", err, b)
		}
		list, err := exec.Command(bin, "admin-cert", "--state-dir", state, "--list").CombinedOutput()
		if err != nil || strings.Count(string(list), "\n") != 2 {
			t.Errorf("admin-cert --list: %v\n%s, want a header and one certificate", err, list)
		}
		serial := strings.Fields(strings.Split(string(list), "\n")[1])[0]
		b, err = exec.Command(bin, "admin-cert", "--state-dir", state, "--revoke", serial).CombinedOutput()
		if err == nil || !strings.Contains(string(b), "last allowed admin certificate") {
			t.Errorf("revoking the last admin certificate: %v\n%s", err, b)
		}
		again := start(t, bin, args...)
		c := adminClient(t, again, addr, out)
		if err := c.Do(context.Background(), http.MethodGet, rotapi.PathWorkloads, nil, nil); err != nil {
			t.Errorf("new admin credentials refused: %v", err)
		}
		old, err := tryClient(addr, adminDir)
		if err != nil {
			t.Fatal(err)
		}
		defer old.HTTP.CloseIdleConnections()
		if err := old.Do(context.Background(), http.MethodGet, rotapi.PathWorkloads, nil, nil); err == nil || !strings.Contains(err.Error(), "403") {
			t.Errorf("first-start admin credentials after --revoke-all-but-new: %v, want 403", err)
		}
		_ = again.cmd.Process.Signal(syscall.SIGTERM)
		if err := again.wait(t); err != nil {
			t.Fatalf("exit %v; stderr:\n%s", err, again.stderr)
		}
		adminDir = out
	})

	t.Run("--admin-listen and --metrics-listen take those off the public port", func(t *testing.T) {
		adm, met := freeAddr(t), freeAddr(t)
		again := start(t, bin, append(args, "--admin-listen", adm, "--metrics-listen", met)...)
		c := adminClient(t, again, addr, adminDir) // readyz stays public
		if err := c.Do(context.Background(), http.MethodGet, rotapi.PathWorkloads, nil, nil); err == nil || !strings.Contains(err.Error(), "404") {
			t.Errorf("admin API on the public port: %v, want 404", err)
		}
		ac, err := tryClient(adm, adminDir)
		if err != nil {
			t.Fatal(err)
		}
		defer ac.HTTP.CloseIdleConnections()
		if err := ac.Do(context.Background(), http.MethodGet, rotapi.PathWorkloads, nil, nil); err != nil {
			t.Errorf("admin API on --admin-listen: %v", err)
		}
		resp, err := http.Get("http://" + met + rotapi.PathMetrics)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("metrics on --metrics-listen: %v %v", err, resp)
		} else {
			resp.Body.Close()
		}
		resp, err = c.HTTP.Get("https://" + addr + rotapi.PathMetrics)
		if err != nil || resp.StatusCode != http.StatusNotFound {
			t.Errorf("metrics on the public port: %v %v, want 404", err, resp)
		} else {
			resp.Body.Close()
		}
		_ = again.cmd.Process.Signal(syscall.SIGTERM)
		if err := again.wait(t); err != nil {
			t.Fatalf("exit %v; stderr:\n%s", err, again.stderr)
		}
	})

	t.Run("corrupt state stops it and is left untouched", func(t *testing.T) {
		wf := filepath.Join(state, "workloads", "payments.json")
		b, err := os.ReadFile(wf)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(wf, b[:len(b)/2], 0o600); err != nil {
			t.Fatal(err)
		}
		before := snapshot(t, state)
		bad := start(t, bin, args...)
		err = bad.wait(t)
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Fatalf("exit %v, want 1; stderr:\n%s", err, bad.stderr)
		}
		for _, want := range []string{"payments.json is not valid JSON state", "nothing was changed"} {
			if !strings.Contains(bad.stderr.String(), want) {
				t.Errorf("stderr lacks %q:\n%s", want, bad.stderr)
			}
		}
		after := snapshot(t, state)
		if len(after) != len(before) {
			t.Errorf("files changed: %d before, %d after", len(before), len(after))
		}
		for k, v := range before {
			if after[k] != v {
				t.Errorf("%s changed", k)
			}
		}
	})
}

func TestSealRotFlags(t *testing.T) {
	bin := testenv.Binary(t, "./cmd/rot")
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"kube store without a cluster", []string{"serve", "--kube", "--trust-domain", "x.example"}, "--kube"},
		{"no store", []string{"serve", "--trust-domain", "x.example"}, "state-dir"},
		{"no trust domain", []string{"serve", "--state-dir", t.TempDir()}, "trust-domain"},
		{"bad trust domain", []string{"serve", "--state-dir", t.TempDir(), "--trust-domain", "Not A Domain", "--listen", freeAddr(t)}, "trust domain"},
		{"workload CA outliving the ROT CA", []string{"serve", "--state-dir", t.TempDir(), "--trust-domain", "x.example", "--root-ca-ttl", "48h", "--workload-ca-ttl", "72h"}, "does not outlive it"},
		{"redeem rate without a burst", []string{"serve", "--state-dir", t.TempDir(), "--trust-domain", "x.example", "--redeem-burst-per-egg", "0"}, "per-Egg redeem burst 0 must be at least 1"},
		{"wildcard listen without external URL", []string{"serve", "--state-dir", t.TempDir(), "--trust-domain", "x.example", "--listen", ":0"}, "set --external-url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(bin, tt.args...)
			cmd.Env = append(os.Environ(), "KUBECONFIG=", "HOME="+t.TempDir(), "KUBERNETES_SERVICE_HOST=")
			out, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(out), tt.wantErr) {
				t.Errorf("got %v:\n%s\nwant a failure with %q", err, out, tt.wantErr)
			}
		})
	}
	out, err := exec.Command(bin, "serve", "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--external-url") || !strings.Contains(string(out), "--redeem-rate-per-client") || !strings.Contains(string(out), "Examples:") {
		t.Errorf("serve --help: %v\n%s", err, out)
	}
}
