package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// stop tears the node down: kubelet, every container (through containerd), containerd, any
// shim left behind, then every mount under the node's directory (lazily), then the directory.
func (p *nodeProcs) stop() error {
	n := p.node
	if p.kubelet != nil {
		p.kubelet.stop(15 * time.Second)
	}
	if p.containerd != nil {
		p.killContainers()
		p.containerd.stop(15 * time.Second)
	}
	killShims(n.ContainerdAddress)
	var errs []error
	if err := unmountUnder(n.Dir); err != nil {
		errs = append(errs, fmt.Errorf("testenv: %w", err))
	}
	removeContainerLogLinks(n.Dir)
	removeEmptyCgroups()
	if err := os.RemoveAll(n.Dir); err != nil {
		errs = append(errs, fmt.Errorf("testenv: removing the node's directory: %w", err))
	}
	return errors.Join(errs...)
}

// killContainers force-removes every task containerd runs for the kubelet, so the shims and
// the containers' processes end.
func (p *nodeProcs) killContainers() {
	if done, _ := p.containerd.exited(); done {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := p.node.ctr(ctx, "tasks", "ls", "-q")
	if err != nil {
		return
	}
	for _, id := range strings.Fields(string(out)) {
		_, _ = p.node.ctr(ctx, "tasks", "rm", "-f", id)
	}
}

// killShims kills containerd-shim processes serving the containerd at address (each kill
// also ends its container: the shim holds the container's init as a child in its own PID
// namespace).
func killShims(address string) {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range procs {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		args := bytes.Split(b, []byte{0})
		if len(args) == 0 || !bytes.Contains(args[0], []byte("containerd-shim")) {
			continue
		}
		if !bytes.Contains(b, []byte(address)) {
			continue
		}
		var pid int
		if _, err := fmt.Sscanf(f, "/proc/%d/cmdline", &pid); err == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// unmountUnder lazily unmounts every mount point under dir, deepest first.
func unmountUnder(dir string) error {
	var firstErr error
	for range 3 {
		mounts, err := mountsUnder(dir)
		if err != nil {
			return err
		}
		if len(mounts) == 0 {
			return nil
		}
		for _, m := range mounts {
			if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil && firstErr == nil && err != syscall.EINVAL && err != syscall.ENOENT {
				firstErr = fmt.Errorf("unmounting %s: %w", m, err)
			}
		}
	}
	if left, _ := mountsUnder(dir); len(left) > 0 {
		return fmt.Errorf("mounts left under %s: %v (first error: %v)", dir, left, firstErr)
	}
	return nil
}

// mountsUnder lists mount points at or under dir, deepest first, from /proc/self/mountinfo.
func mountsUnder(dir string) ([]string, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("reading mountinfo: %w", err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		mp := unescapeMount(f[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out, nil
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%o", &c); err == nil {
				b.WriteByte(byte(c))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// removeContainerLogLinks removes the kubelet's /var/log/containers symlinks that point into
// dir (the kubelet always writes them there).
func removeContainerLogLinks(dir string) {
	links, _ := filepath.Glob("/var/log/containers/*.log")
	for _, l := range links {
		if target, err := os.Readlink(l); err == nil && strings.HasPrefix(target, dir+"/") {
			_ = os.Remove(l)
		}
	}
}

// nodeDirPattern matches the directories StartNode creates.
const nodeDirPattern = "seal-node-*"

// lockNodeDir takes an exclusive lock on dir/lock for as long as the test process lives (the
// kernel drops it when the process dies, however it dies).
func lockNodeDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// sweepStaleNodes cleans up after test processes that died without their cleanup (killed, or
// a `go test -timeout` panic): for every node directory whose lock is free, it kills the
// shims of that node's containerd, unmounts everything under it and removes it. It returns a
// line for each directory it dealt with.
func sweepStaleNodes() []string {
	var report []string
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), nodeDirPattern))
	for _, dir := range dirs {
		if st, err := os.Stat(dir); err != nil || time.Since(st.ModTime()) < time.Minute {
			if _, err := os.Stat(filepath.Join(dir, "lock")); err != nil {
				continue // just created by another test process, not locked yet
			}
		}
		f, err := lockNodeDir(dir)
		if err != nil {
			continue // alive (or not ours to judge)
		}
		sock := filepath.Join(dir, "containerd.sock")
		for _, daemon := range []string{"kubelet", "containerd"} {
			killMentioning(daemon, dir)
		}
		killShims(sock)
		if err := unmountUnder(dir); err != nil {
			report = append(report, fmt.Sprintf("testenv: stale node %s: %v", dir, err))
		}
		removeContainerLogLinks(dir)
		f.Close()
		if err := os.RemoveAll(dir); err == nil {
			report = append(report, fmt.Sprintf("testenv: removed the stale node directory %s (a test process died without cleaning up)", dir))
		}
	}
	return report
}

// killMentioning kills processes whose executable name ends in name and whose command line
// mentions s.
func killMentioning(name, s string) {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range procs {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		args := bytes.Split(b, []byte{0})
		if len(args) == 0 || filepath.Base(string(args[0])) != name || !bytes.Contains(b, []byte(s)) {
			continue
		}
		var pid int
		if _, err := fmt.Sscanf(f, "/proc/%d/cmdline", &pid); err == nil && pid != os.Getpid() {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// removeEmptyCgroups removes the k8s.io cgroups containerd creates as the parent of the pods'
// cgroups (cgroupsPerQOS is off), when no other node still uses them: rmdir fails on a cgroup
// that has children or processes.
func removeEmptyCgroups() {
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*/k8s.io")
	unified, _ := filepath.Glob("/sys/fs/cgroup/k8s.io")
	for _, d := range append(dirs, unified...) {
		_ = syscall.Rmdir(d)
	}
}
