package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// apiServerProc is a kube-apiserver StartAPIServer started again after StopAPIServer: the
// same flags (certificates, port, etcd), so every kubeconfig keeps working.
type apiServerProc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// StopAPIServer stops kube-apiserver (SIGTERM, and waits until it has exited) and leaves etcd
// and every other process running, as an outage of the API server does. StartAPIServer brings
// it back. Fault drills (test/chaos) use them.
func (e *Env) StopAPIServer(t testing.TB) {
	t.Helper()
	if e.apiArgs == nil {
		pid, args, err := e.findAPIServer()
		if err != nil {
			t.Fatal(err)
		}
		e.apiArgs = args
		if err := killWait(pid, func() bool { return !alive(pid) }); err != nil {
			t.Fatal(err)
		}
		return
	}
	if e.apiProc == nil {
		t.Fatal("testenv: StopAPIServer: kube-apiserver is already stopped")
	}
	e.stopAPIServerProc()
}

// StartAPIServer starts kube-apiserver again after StopAPIServer, on the same port, etcd and
// certificates, and waits until it answers (at most a minute).
func (e *Env) StartAPIServer(t testing.TB) {
	t.Helper()
	if e.apiArgs == nil || e.apiProc != nil {
		t.Fatal("testenv: StartAPIServer: kube-apiserver was not stopped with StopAPIServer")
	}
	logf, err := os.OpenFile(filepath.Join(e.Dir, "kube-apiserver-restarted.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(e.apiArgs[0], e.apiArgs[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("testenv: restarting kube-apiserver: %v", err)
	}
	p := &apiServerProc{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	e.apiProc = p
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := e.Client.List(ctx, &corev1.NamespaceList{})
		cancel()
		if err == nil {
			return
		}
		select {
		case <-p.done:
			b, _ := os.ReadFile(logf.Name())
			t.Fatalf("testenv: restarted kube-apiserver exited; log tail:\n%s", tail(b, 4000))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: restarted kube-apiserver not answering after a minute: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stopAPIServerProc ends a kube-apiserver StartAPIServer started (Stop calls it first).
func (e *Env) stopAPIServerProc() {
	p := e.apiProc
	if p == nil {
		return
	}
	e.apiProc = nil
	_ = killWait(p.cmd.Process.Pid, func() bool {
		select {
		case <-p.done:
			return true
		default:
			return false
		}
	})
}

// findAPIServer finds this Env's kube-apiserver among the processes by its --secure-port and
// returns its pid and command line.
func (e *Env) findAPIServer() (int, []string, error) {
	if e.env == nil || e.env.ControlPlane.APIServer == nil {
		return 0, nil, errors.New("testenv: no control plane running")
	}
	want := "--secure-port=" + strconv.Itoa(e.env.ControlPlane.APIServer.SecurePort)
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return 0, nil, fmt.Errorf("testenv: %w", err)
	}
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		args := strings.Split(string(bytes.TrimRight(b, "\x00")), "\x00")
		if filepath.Base(args[0]) != "kube-apiserver" {
			continue
		}
		for _, a := range args[1:] {
			if a == want {
				return pid, args, nil
			}
		}
	}
	return 0, nil, fmt.Errorf("testenv: no kube-apiserver process with %s", want)
}

// killWait sends SIGTERM to pid, and SIGKILL after 30 s, until gone reports it has exited.
func killWait(pid int, gone func() bool) error {
	_ = syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(30 * time.Second)
	for !gone() {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			deadline = time.Now().Add(30 * time.Second)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// alive reports whether pid is a process that has not exited (a zombie has).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses: "pid (comm) S ...".
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] != 'Z'
}
