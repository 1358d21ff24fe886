package main_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seal-dev/seal/internal/rot/rottest"
	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/testing/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.CleanupBinaries()
	os.Exit(code)
}

// identity runs the real seal-init with egg and returns the directory it wrote.
func identity(t *testing.T, egg string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "seal")
	cmd := exec.Command(testenv.Binary(t, "./cmd/init"), "--out", dir, "--timeout", "30s")
	cmd.Env = append(os.Environ(), "SEAL_EGG="+egg)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("seal-init: %v\n%s", err, out)
	}
	return dir
}

// call runs `demoapp call --count 1` with the identity in dir and returns its output.
func call(t *testing.T, app, addr, dir string, extra ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, app, append([]string{"call", "--addr", addr, "--dir", dir, "--count", "1"}, extra...)...).CombinedOutput()
	return string(out)
}

// TestServeAndCall runs the demo app as processes with identities seal-init redeemed from a
// real ROT: a peer of the same workload completes mTLS, another workload is refused by the
// server (or refuses the server itself).
func TestServeAndCall(t *testing.T) {
	r := rottest.Start(t)
	r.CreateWorkload(t, rotapi.Workload{Name: "payments", Peers: []string{"api", "web"}})
	r.CreateWorkload(t, rotapi.Workload{Name: "shop"})
	apiDir := identity(t, r.MintEgg(t, "payments", rotapi.MintRequest{Peer: "api"}))
	webDir := identity(t, r.MintEgg(t, "payments", rotapi.MintRequest{Peer: "web"}))
	shopDir := identity(t, r.MintEgg(t, "shop", rotapi.MintRequest{}))
	app := testenv.Binary(t, "./test/demoapp")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var serverLog testenv.LogBuffer
	srv := exec.Command(app, "serve", "--listen", addr, "--dir", apiDir)
	srv.Stdout, srv.Stderr = &serverLog, &serverLog
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = srv.Process.Signal(syscall.SIGTERM)
		if err := srv.Wait(); err != nil {
			t.Errorf("demoapp serve did not stop cleanly on SIGTERM: %v\n%s", err, serverLog.String())
		}
	})
	testenv.Eventually(t, 30*time.Second, func() error {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err
	})
	td := r.TrustDomain
	apiID := "spiffe://" + td + "/workload/payments/peer/api"

	for _, tc := range []struct {
		name, dir  string
		extra      []string
		wantClient string
		wantServer string
	}{
		{"same workload", webDir, nil, `msg="mTLS call succeeded" server=` + apiID, `msg="authorized peer" peer=spiffe://` + td + `/workload/payments/peer/web`},
		{"other workload refuses the server", shopDir, nil, `msg="mTLS call failed"`, ""},
		{"other workload refused by the server", shopDir, []string{"--any-server"}, `msg="mTLS call failed"`, `msg="refused peer" error="sealtls: peer spiffe://` + td + `/workload/shop/peer/any: `},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := call(t, app, addr, tc.dir, tc.extra...)
			if !strings.Contains(got, tc.wantClient) {
				t.Errorf("client log lacks %q:\n%s", tc.wantClient, got)
			}
			if tc.wantServer == "" {
				return
			}
			testenv.Eventually(t, 10*time.Second, func() error {
				if !strings.Contains(serverLog.String(), tc.wantServer) {
					return &missing{tc.wantServer, serverLog.String()}
				}
				return nil
			})
		})
	}
	if strings.Contains(serverLog.String(), `msg="authorized peer" peer=spiffe://`+td+`/workload/shop`) {
		t.Errorf("the server authorized workload shop:\n%s", serverLog.String())
	}
}

type missing struct{ want, log string }

func (m *missing) Error() string { return "server log lacks " + m.want + ":\n" + m.log }

func TestUsage(t *testing.T) {
	out, err := exec.Command(testenv.Binary(t, "./test/demoapp"), "dance").CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "usage: demoapp serve|call") {
		t.Errorf("demoapp dance: %v, %q; want exit 2 with the usage", err, out)
	}
}

// agent runs the real seal-agent sidecar with egg and returns its Workload API socket.
func agent(t *testing.T, egg string) string {
	t.Helper()
	dir := t.TempDir()
	socket := filepath.Join(dir, "agent.sock")
	cmd := exec.Command(testenv.Binary(t, "./cmd/agent"), "--watch", "--out", filepath.Join(dir, "seal"), "--workload-api-socket", socket)
	cmd.Env = append(os.Environ(), "SEAL_EGG="+egg, "SEAL_TERMINATION_LOG="+filepath.Join(dir, "none"))
	var log testenv.LogBuffer
	cmd.Stderr = &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	testenv.Eventually(t, 30*time.Second, func() error {
		if _, err := os.Stat(socket); err != nil {
			return &missing{"socket " + socket, log.String()}
		}
		return nil
	})
	return socket
}

// TestServeAndCallThroughTheWorkloadAPI: with --workload-api the app takes its identity from
// seal-agent's socket through go-spiffe and still authorizes peers of its own workload only.
func TestServeAndCallThroughTheWorkloadAPI(t *testing.T) {
	r := rottest.Start(t)
	r.CreateWorkload(t, rotapi.Workload{Name: "payments", Peers: []string{"api", "web"}})
	r.CreateWorkload(t, rotapi.Workload{Name: "shop"})
	apiSock := agent(t, r.MintEgg(t, "payments", rotapi.MintRequest{Peer: "api"}))
	webSock := agent(t, r.MintEgg(t, "payments", rotapi.MintRequest{Peer: "web"}))
	shopSock := agent(t, r.MintEgg(t, "shop", rotapi.MintRequest{}))
	app := testenv.Binary(t, "./test/demoapp")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var serverLog testenv.LogBuffer
	srv := exec.Command(app, "serve", "--workload-api", "--listen", addr)
	srv.Env = append(os.Environ(), "SPIFFE_ENDPOINT_SOCKET=unix://"+apiSock)
	srv.Stdout, srv.Stderr = &serverLog, &serverLog
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Process.Kill(); _ = srv.Wait() })
	testenv.Eventually(t, 30*time.Second, func() error {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err
	})
	td := r.TrustDomain
	callAPI := func(socket string, extra ...string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, app, append([]string{"call", "--workload-api", "--addr", addr, "--count", "1"}, extra...)...)
		cmd.Env = append(os.Environ(), "SPIFFE_ENDPOINT_SOCKET=unix://"+socket)
		out, _ := cmd.CombinedOutput()
		return string(out)
	}
	if got := callAPI(webSock); !strings.Contains(got, `msg="mTLS call succeeded" server=spiffe://`+td+`/workload/payments/peer/api`) {
		t.Errorf("a peer of the same workload:\n%s\nserver:\n%s", got, serverLog.String())
	}
	for _, extra := range [][]string{nil, {"--any-server"}} { // refused by the client, then by the server
		if got := callAPI(shopSock, extra...); !strings.Contains(got, `msg="mTLS call failed"`) {
			t.Errorf("a pod of workload shop got through (%v):\n%s", extra, got)
		}
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		for _, want := range []string{`msg="authorized peer" peer=spiffe://` + td + `/workload/payments/peer/web`, `msg="refused peer" error="x509svid: could not verify leaf certificate`} { // its Workload CA is not in the bundle
			if !strings.Contains(serverLog.String(), want) {
				return &missing{want, serverLog.String()}
			}
		}
		return nil
	})
}
