package chaos

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seal-dev/seal/internal/enroll"
	"github.com/seal-dev/seal/internal/kubestore"
	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/testing/testenv"
	sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"
)

// loadGen is C seal-init clients redeeming again and again until stopped.
type loadGen struct {
	ok, failed atomic.Int64
	retries    *retryLog
	mu         sync.Mutex
	lastErr    error
	cancel     context.CancelFunc
	wg         sync.WaitGroup
}

func startLoad(t *testing.T, eggs []string) *loadGen {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	g := &loadGen{retries: &retryLog{causes: map[string]int{}}, cancel: cancel}
	for _, egg := range eggs {
		e, err := enroll.New(egg, "test")
		if err != nil {
			t.Fatal(err)
		}
		e.Log = slog.New(g.retries)
		e.Backoff = enroll.Backoff{Initial: 100 * time.Millisecond, Max: time.Second}
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			for ctx.Err() == nil {
				_, err := e.Redeem(ctx, time.Now().Add(time.Minute))
				switch {
				case ctx.Err() != nil:
				case err != nil:
					g.failed.Add(1)
					g.mu.Lock()
					g.lastErr = err
					g.mu.Unlock()
				default:
					g.ok.Add(1)
				}
			}
		}()
	}
	t.Cleanup(g.stop)
	return g
}

func (g *loadGen) stop() { g.cancel(); g.wg.Wait() }

func mintEggs(ctx context.Context, t *testing.T, c *rotapi.Client, workload string, n int) []string {
	t.Helper()
	var eggs []string
	for range n {
		var m rotapi.MintResponse
		if err := c.Do(ctx, http.MethodPost, rotapi.Path(rotapi.PathEggs, workload), rotapi.MintRequest{Peer: "api"}, &m); err != nil {
			t.Fatalf("minting an Egg for %s: %v", workload, err)
		}
		eggs = append(eggs, m.Egg)
	}
	return eggs
}

// TestAPIServerOutage: kube-apiserver stopped under redemption load (30 s under make chaos):
// redemption keeps serving from memory, an admin write fails with an error naming the cause
// within its timeout, and once the API server is back, writes land and kubectl changes reach
// the ROT again, without restarting it.
func TestAPIServerOutage(t *testing.T) {
	outage := size(10*time.Second, 30*time.Second)
	env := testenv.Start(t, testenv.Options{NoControllerManager: true})
	ns := env.Namespace(t, nil)
	rot := startROT(t, "seal-rot", testenv.Binary(t, "./cmd/rot"), []string{"KUBECONFIG=" + env.Kubeconfig},
		"--kube", "--namespace", ns, "--trust-domain", "outage.example")
	var sec corev1.Secret
	testenv.Eventually(t, 90*time.Second, func() error {
		return env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: kubestore.AdminSecret}, &sec)
	})
	admin := adminClient(t, rot.addr, sec.Data["ca.crt"], sec.Data["tls.crt"], sec.Data["tls.key"])
	rot.waitReady(t, admin)
	ctx := context.Background()
	if err := admin.Do(ctx, http.MethodPost, rotapi.PathWorkloads, rotapi.Workload{Name: "orders", Peers: []string{"api"}}, nil); err != nil {
		t.Fatal(err)
	}
	load := startLoad(t, mintEggs(ctx, t, admin, "orders", 10))
	time.Sleep(2 * time.Second)

	env.StopAPIServer(t)
	stoppedAt := time.Now()
	okBefore := load.ok.Load()
	// An admin write while the API server is down.
	wctx, cancel := context.WithTimeout(ctx, 40*time.Second)
	writeStart := time.Now()
	writeErr := admin.Do(wctx, http.MethodPost, rotapi.Path(rotapi.PathEggs, "orders"), rotapi.MintRequest{Peer: "api"}, nil)
	cancel()
	writeTook := time.Since(writeStart)
	// Readiness while it is down: a ROT serving from memory must stay in its Service.
	var unready int
	for time.Since(stoppedAt) < outage {
		if err := admin.Do(ctx, http.MethodGet, rotapi.PathReadyz, nil, nil); err != nil {
			unready++
		}
		time.Sleep(500 * time.Millisecond)
	}
	okDuring := load.ok.Load() - okBefore
	failedDuring := load.failed.Load()
	env.StartAPIServer(t)
	restartedAt := time.Now()

	// Recovery without restarting the ROT: a write lands, and a Workload made with kubectl
	// reaches it (its watches came back).
	testenv.Eventually(t, 60*time.Second, func() error {
		return admin.Do(ctx, http.MethodPost, rotapi.Path(rotapi.PathEggs, "orders"), rotapi.MintRequest{Peer: "api"}, nil)
	})
	writesBack := time.Since(restartedAt)
	if err := env.Client.Create(ctx, &sealv1.Workload{ObjectMeta: metav1.ObjectMeta{Name: "after-outage"},
		Spec: sealv1.WorkloadSpec{Peers: []string{"api"}}}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 60*time.Second, func() error {
		return admin.Do(ctx, http.MethodGet, rotapi.Path(rotapi.PathWorkload, "after-outage"), nil, nil)
	})
	watchBack := time.Since(restartedAt)
	load.stop()
	all, fivexx, samples := load.retries.count()
	la, _ := os.ReadFile("/proc/loadavg")
	t.Logf("FIGURES apiserver-outage: API server down %s under 10 clients: %d redemptions served during it, %d failed; "+
		"retries %d (%d on a 5xx); readyz failed %d times; admin write during it: %v after %s; after restart: writes land after %s, "+
		"a kubectl-made Workload is seen after %s; ROT restarted: no (exited: %v); load average %s",
		outage, okDuring, failedDuring, all, fivexx, unready, writeErr, writeTook.Round(time.Millisecond),
		writesBack.Round(time.Millisecond), watchBack.Round(time.Millisecond), rot.exited(), strings.TrimSpace(string(la)))
	if okDuring == 0 || failedDuring > 0 || fivexx > 0 {
		t.Errorf("during the outage: %d redemptions, %d failed, %d retries on a 5xx (%s); want redemptions served from memory, none failed",
			okDuring, failedDuring, fivexx, strings.Join(samples, "; "))
	}
	if unready > 0 {
		t.Errorf("/readyz failed %d times during the outage; want ready (redemption is served from memory)", unready)
	}
	var se *rotapi.StatusError
	if !errors.As(writeErr, &se) || se.Code != http.StatusServiceUnavailable || !strings.Contains(se.Message, "API server") {
		t.Errorf("admin write during the outage: %v; want 503 naming the unreachable Kubernetes API server", writeErr)
	}
	if rot.exited() {
		t.Errorf("seal-rot exited")
	}
}

// TestStateDirFull: the state directory on a full file system (a 4 MiB tmpfs): admin writes
// fail with ENOSPC named, nothing is half-written (the files are unchanged, no temporary file
// is left), redemption keeps serving, writes land again once there is room, and the state
// loads after a restart.
func TestStateDirFull(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos: runs a seal-rot process; run without -short")
	}
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("chaos: cannot mount a tmpfs (needs root): %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	bin := testenv.Binary(t, "./cmd/rot")
	rot := startROT(t, "seal-rot", bin, nil, "--state-dir", dir, "--trust-domain", "full.example")
	var admin *rotapi.Client
	testenv.Eventually(t, 60*time.Second, func() error {
		if _, err := os.Stat(filepath.Join(dir, "admin", "tls.key")); err != nil {
			return err
		}
		return nil
	})
	admin = adminDirClient(t, rot.addr, filepath.Join(dir, "admin"))
	rot.waitReady(t, admin)
	ctx := context.Background()
	if err := admin.Do(ctx, http.MethodPost, rotapi.PathWorkloads, rotapi.Workload{Name: "orders", Peers: []string{"api"}}, nil); err != nil {
		t.Fatal(err)
	}
	eggs := mintEggs(ctx, t, admin, "orders", 4)

	// Fill the file system.
	filler := filepath.Join(dir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	// Small writes can still fit in a partly used page: fill them too.
	for {
		if _, err := f.Write(buf[:1]); err != nil {
			break
		}
	}
	_ = f.Close()
	before := snapshot(t, dir)

	load := startLoad(t, eggs)
	var errs []string
	for _, w := range []struct {
		name, method, path string
		body               any
	}{
		{"mint an Egg", http.MethodPost, rotapi.Path(rotapi.PathEggs, "orders"), rotapi.MintRequest{Peer: "api"}},
		{"create a workload", http.MethodPost, rotapi.PathWorkloads, rotapi.Workload{Name: "billing", Peers: []string{"api"}}},
		{"rotate a data key", http.MethodPost, rotapi.Path(rotapi.PathKeys, "orders"), nil},
		{"rotate the Workload CA", http.MethodPost, rotapi.Path(rotapi.PathRotateWorkloadCA, "orders"), nil},
	} {
		err := admin.Do(ctx, w.method, w.path, w.body, nil)
		var se *rotapi.StatusError
		if !errors.As(err, &se) || !strings.Contains(se.Message, "no space left on device") {
			t.Errorf("%s on a full disk: %v; want a refusal naming ENOSPC (no space left on device)", w.name, err)
		}
		errs = append(errs, fmt.Sprintf("%s: %v", w.name, err))
	}
	time.Sleep(2 * time.Second)
	after := snapshot(t, dir)
	if d := diffSnap(before, after); d != "" {
		t.Errorf("the state directory changed under failed writes: %s", d)
	}
	okFull, failedFull := load.ok.Load(), load.failed.Load()
	if okFull == 0 || failedFull > 0 {
		t.Errorf("redemption on a full disk: %d ok, %d failed; want it to keep serving", okFull, failedFull)
	}

	// Room again: writes land without a restart, and the state loads after one.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := admin.Do(ctx, http.MethodPost, rotapi.PathWorkloads, rotapi.Workload{Name: "billing", Peers: []string{"api"}}, nil); err != nil {
		t.Fatalf("creating a workload once there is room again: %v", err)
	}
	load.stop()
	rot.signal(syscall.SIGTERM)
	rot.start()
	rot.waitReady(t, admin)
	var ws []rotapi.Workload
	if err := admin.Do(ctx, http.MethodGet, rotapi.PathWorkloads, nil, &ws); err != nil || len(ws) != 2 {
		t.Errorf("after a restart: %d workloads (%v), want orders and billing", len(ws), err)
	}
	var listed []rotapi.EggInfo
	if err := admin.Do(ctx, http.MethodGet, rotapi.Path(rotapi.PathEggs, "orders"), nil, &listed); err != nil || len(listed) != len(eggs) {
		t.Errorf("after a restart: %d Eggs of orders (%v), want the %d minted before the disk filled", len(listed), err, len(eggs))
	}
	la, _ := os.ReadFile("/proc/loadavg")
	t.Logf("FIGURES state-dir-full: 4 MiB tmpfs filled; refusals: %s; redemptions meanwhile: %d ok, %d failed; files unchanged: %v; load average %s",
		strings.Join(errs, "; "), okFull, failedFull, diffSnap(before, after) == "", strings.TrimSpace(string(la)))
}

// snapshot hashes every file under dir but the filler.
func snapshot(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	m := map[string][32]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == "filler" {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		m[strings.TrimPrefix(p, dir+"/")] = sha256.Sum256(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func diffSnap(a, b map[string][32]byte) string {
	var d []string
	for k, v := range a {
		if w, ok := b[k]; !ok {
			d = append(d, "removed "+k)
		} else if w != v {
			d = append(d, "changed "+k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			d = append(d, "added "+k)
		}
	}
	return strings.Join(d, ", ")
}
