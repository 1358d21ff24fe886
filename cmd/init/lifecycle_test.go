package main_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/seal-dev/seal/internal/podfiles"
	"github.com/seal-dev/seal/internal/rot/rottest"
	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/testing/testenv"
)

// TestWaitsForLateROT starts seal-init while its ROT (a real seal-rot process) is down, then
// brings the ROT up: seal-init retries until it answers and writes the files.
func TestWaitsForLateROT(t *testing.T) {
	initBin := testenv.Binary(t, "./cmd/init")
	rotBin := testenv.Binary(t, "./cmd/rot")
	state := filepath.Join(t.TempDir(), "state")
	addr := freeAddr(t)
	rotArgs := []string{"serve", "--state-dir", state, "--listen", addr, "--trust-domain", "late.seal.dev"}

	// First life of the ROT: create the workload and mint the Egg, then stop it.
	first := start(t, nil, rotBin, rotArgs...)
	admin := rotAdmin(t, first, addr, filepath.Join(state, "admin"))
	if err := admin.Do(t.Context(), http.MethodPost, rotapi.PathWorkloads, rotapi.Workload{Name: "payments"}, nil); err != nil {
		t.Fatal(err)
	}
	var minted rotapi.MintResponse
	if err := admin.Do(t.Context(), http.MethodPost, rotapi.Path(rotapi.PathEggs, "payments"), rotapi.MintRequest{}, &minted); err != nil {
		t.Fatal(err)
	}
	admin.HTTP.CloseIdleConnections()
	if err := first.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := first.wait(t); code != 0 {
		t.Fatalf("seal-rot exit %d on SIGTERM; stderr:\n%s", code, first.stderr)
	}

	out := filepath.Join(t.TempDir(), "seal")
	init := start(t, []string{"SEAL_EGG=" + minted.Egg, "SEAL_OUT=" + out, "SEAL_TIMEOUT=1m"}, initBin)
	// Let seal-init find the ROT down a few times.
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(init.stderr.String(), "ROT not answering yet") < 3 {
		if init.exited() || time.Now().After(deadline) {
			t.Fatalf("seal-init did not keep retrying; exited %v, stderr:\n%s", init.exited(), init.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := os.Lstat(filepath.Join(out, "tls.crt")); err == nil {
		t.Fatal("tls.crt exists before the ROT answered")
	}
	if !strings.Contains(init.stderr.String(), "cause=\"connection refused\"") {
		t.Errorf("retry logs do not name the cause; stderr:\n%s", init.stderr)
	}

	second := start(t, nil, rotBin, rotArgs...)
	if code := init.wait(t); code != 0 {
		t.Fatalf("seal-init exit %d once the ROT came up; stderr:\n%s\nseal-rot stderr:\n%s", code, init.stderr, second.stderr)
	}
	files, err := podfiles.Read(out, "tls.crt", "tls.key")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(files["tls.crt"], files["tls.key"])
	if err != nil {
		t.Fatal(err)
	}
	if want := "spiffe://late.seal.dev/workload/payments/peer/any"; len(pair.Leaf.URIs) != 1 || pair.Leaf.URIs[0].String() != want {
		t.Errorf("URI SANs %v, want [%s]", pair.Leaf.URIs, want)
	}
}

// TestWatchRenewsWithoutHalfSets runs seal-init --watch against a ROT whose certificates live a
// few seconds, while readers check that what they see is always a complete, matching and
// unexpired pair; then SIGTERM ends it cleanly.
func TestWatchRenewsWithoutHalfSets(t *testing.T) {
	bin := testenv.Binary(t, "./cmd/init")
	// The ROT's clock runs 50s behind, so the shortest certTTL it allows (1m) ends 10s from now:
	// renewals come about every 6s, leaving seconds of slack on a loaded machine.
	r := rottest.Start(t, rottest.WithClock(func() time.Time { return time.Now().Add(-50 * time.Second) }))
	r.CreateWorkload(t, rotapi.Workload{Name: "payments", Peers: []string{"api"}, CertTTL: "1m"})
	eggText := r.MintEgg(t, "payments", rotapi.MintRequest{Peer: "api"})
	dir := t.TempDir()
	out, ready := filepath.Join(dir, "seal"), filepath.Join(dir, "ready")
	health := freeAddr(t)
	p := start(t, []string{"SEAL_EGG=" + eggText}, bin, "--watch", "--out", out, "--ready-file", ready, "--health-addr", health)

	readyz := func() int {
		resp, err := http.Get("http://" + health + rotapi.PathReadyz)
		if err != nil {
			return 0
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	deadline := time.Now().Add(30 * time.Second)
	for readyz() != http.StatusOK {
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("seal-init never became ready; stderr:\n%s", p.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if b, err := os.ReadFile(ready); err != nil || string(b) != apiID+"\n" {
		t.Errorf("ready file %q, %v; want the SPIFFE ID", b, err)
	}

	var (
		stop    atomic.Bool
		wg      sync.WaitGroup
		mu      sync.Mutex
		serials = map[string]bool{}
	)
	check := func(crt, key []byte) {
		pair, err := tls.X509KeyPair(crt, key)
		if err != nil {
			t.Errorf("a reader saw a broken pair: %v", err)
			stop.Store(true)
			return
		}
		if now := time.Now(); !now.Before(pair.Leaf.NotAfter) {
			t.Errorf("a reader saw an expired certificate (notAfter %s, now %s): renewal came too late", pair.Leaf.NotAfter, now)
			stop.Store(true)
		}
		mu.Lock()
		serials[pair.Leaf.SerialNumber.String()] = true
		mu.Unlock()
	}
	// Reader 1 loads the pair from one generation, as pkg/sealtls does.
	wg.Go(func() {
		for !stop.Load() {
			files, err := podfiles.Read(out, "tls.crt", "tls.key")
			if err != nil {
				t.Errorf("podfiles.Read: %v", err)
				return
			}
			check(files["tls.crt"], files["tls.key"])
			time.Sleep(time.Millisecond) // leave the cores to seal-init
		}
	})
	// Reader 2 reads by the top-level names, like nginx would: cert, key, cert again; when the
	// cert did not change meanwhile, the key read between must be its key.
	wg.Go(func() {
		for !stop.Load() {
			crt, err1 := os.ReadFile(filepath.Join(out, "tls.crt"))
			key, err2 := os.ReadFile(filepath.Join(out, "tls.key"))
			again, err3 := os.ReadFile(filepath.Join(out, "tls.crt"))
			if err1 != nil || err2 != nil || err3 != nil {
				t.Errorf("reading by name: %v %v %v", err1, err2, err3)
				return
			}
			if bytes.Equal(crt, again) {
				check(crt, key)
			}
			time.Sleep(time.Millisecond)
		}
	})
	deadline = time.Now().Add(90 * time.Second)
	for {
		mu.Lock()
		n := len(serials)
		mu.Unlock()
		if n >= 3 || stop.Load() {
			break
		}
		if p.exited() || time.Now().After(deadline) {
			stop.Store(true)
			wg.Wait()
			t.Fatalf("saw %d certificates, want 3 (two renewals); stderr:\n%s", n, p.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	// The readers see a new set at the switch; seal-init logs the write after removing the old one.
	for strings.Count(p.stderr.String(), "wrote identity") < 3 {
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("seal-init did not log three writes; stderr:\n%s", p.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	entries, _ := os.ReadDir(out)
	if len(entries) != 2+4 { // ..data, one generation, four links
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("--out holds %q, want ..data, one generation and four links", names)
	}
	if code := readyz(); code != http.StatusOK {
		t.Errorf("/readyz = %d while renewing, want 200", code)
	}

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t); code != 0 {
		t.Errorf("exit %d on SIGTERM, want 0; stderr:\n%s", code, p.stderr)
	}
	if !strings.Contains(p.stderr.String(), "stopping on signal") {
		t.Errorf("no clean-stop log; stderr:\n%s", p.stderr)
	}
}

// TestEggFromImage runs the copy step, then the copied binary driven only by SEAL_* variables,
// reading an Egg baked into the "image" as a file, as the webhook's injected containers do.
func TestEggFromImage(t *testing.T) {
	bin := testenv.Binary(t, "./cmd/init")
	r := rottest.Start(t)
	r.CreateWorkload(t, rotapi.Workload{Name: "payments", Peers: []string{"api"}, RouteHosts: []string{"api.apps.example.com"}})
	// As in CI: sealctl egg mint payments --peer api > egg.txt, then COPY egg.txt /etc/seal/egg.
	eggText := string(sealctl(t, r.URL, r.AdminDir, nil, "egg", "mint", "payments", "--peer", "api", "--hostname", "api.apps.example.com"))
	image := t.TempDir()
	if err := os.MkdirAll(filepath.Join(image, "etc", "seal"), 0o755); err != nil {
		t.Fatal(err)
	}
	eggPath := filepath.Join(image, "etc", "seal", "egg")
	if err := os.WriteFile(eggPath, []byte(eggText), 0o444); err != nil {
		t.Fatal(err)
	}
	volume := filepath.Join(t.TempDir(), "seal")

	if code, stderr := run(t, nil, bin, "copy", volume+"/bin/"); code != 0 {
		t.Fatalf("copy: exit %d; stderr:\n%s", code, stderr)
	}
	copied := filepath.Join(volume, "bin", "seal-init")
	fi, err := os.Stat(copied)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != 0o555 {
		t.Errorf("copied binary mode %v, want 0555", fi.Mode())
	}
	env := []string{"SEAL_EGG_FROM_IMAGE=" + eggPath, "SEAL_OUT=" + volume, "SEAL_HOSTNAMES=api.apps.example.com", "SEAL_TIMEOUT=30s"}
	if code, stderr := run(t, env, copied); code != 0 {
		t.Fatalf("copied seal-init: exit %d; stderr:\n%s", code, stderr)
	}
	files, err := podfiles.Read(volume, "tls.crt")
	if err != nil {
		t.Fatal(err)
	}
	leaf := mustLeaf(t, files["tls.crt"])
	if !slices.Contains(leaf.DNSNames, "api") || !slices.Contains(leaf.DNSNames, "api.apps.example.com") {
		t.Errorf("DNS SANs %q, want api and the route host", leaf.DNSNames)
	}
	if _, err := os.Stat(copied); err != nil {
		t.Errorf("writing the files removed the copied binary: %v", err)
	}

	t.Run("missing image egg", func(t *testing.T) {
		code, stderr := run(t, []string{"SEAL_EGG_FROM_IMAGE=/etc/seal/none", "SEAL_OUT=" + t.TempDir()}, copied)
		want := "seal-init: cannot read the Egg baked into the app image at /etc/seal/none (no such file or directory): " +
			"bake it in with `COPY egg.txt /etc/seal/none` in the Dockerfile, or fix the pod's seal.dev/egg annotation\n"
		if code != 1 || stderr != want {
			t.Errorf("exit %d, stderr %q; want 1, %q", code, stderr, want)
		}
	})
}

func mustLeaf(t *testing.T, crt []byte) *x509.Certificate {
	t.Helper()
	blk, _ := pem.Decode(crt)
	if blk == nil {
		t.Fatal("no PEM in tls.crt")
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
