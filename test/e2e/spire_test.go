package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/seal-dev/seal/internal/rot/rottest"
	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/testing/testenv"
	"github.com/seal-dev/seal/pkg/sealtls"
)

const (
	spireTD = "spire.example.org"
	sealTD  = "seal.example.org"
)

// spireServer is a real spire-server process on loopback.
type spireServer struct {
	bin, socket, dir string
	fedURL           string // its https_spiffe bundle endpoint
}

// startSPIRE runs spire-server for spireTD, federating with the Seal ROT at rotURL over
// https_spiffe, and waits until it is healthy.
func startSPIRE(t *testing.T, bin, rotURL string) *spireServer {
	t.Helper()
	dir, err := os.MkdirTemp("", "spire-") // short: the API socket path must fit sun_path
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := &spireServer{bin: bin, socket: filepath.Join(dir, "api.sock"), dir: dir}
	apiPort, fedPort := freeLoopbackPort(t), freeLoopbackPort(t)
	s.fedURL = "https://127.0.0.1:" + strconv.Itoa(fedPort)
	conf := fmt.Sprintf(`server {
  bind_address = "127.0.0.1"
  bind_port = "%d"
  socket_path = %q
  trust_domain = %q
  data_dir = %q
  log_level = "DEBUG"
  federation {
    bundle_endpoint {
      address = "127.0.0.1"
      port = %d
    }
    federates_with %q {
      bundle_endpoint_url = "%s/v1/bundle"
      bundle_endpoint_profile "https_spiffe" {
        endpoint_spiffe_id = "spiffe://%s/seal/rot"
      }
    }
  }
}
plugins {
  DataStore "sql" {
    plugin_data {
      database_type = "sqlite3"
      connection_string = %q
    }
  }
  KeyManager "memory" {
    plugin_data {}
  }
  NodeAttestor "join_token" {
    plugin_data {}
  }
}
`, apiPort, s.socket, spireTD, filepath.Join(dir, "data"), fedPort, sealTD, rotURL, sealTD, filepath.Join(dir, "datastore.sqlite3"))
	confFile := filepath.Join(dir, "server.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	cmd := exec.Command(bin, "run", "-config", confFile)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("spire-server log:\n%s", tailLines(log.String(), 40))
		}
	})
	testenv.Eventually(t, time.Minute, func() error {
		select {
		case <-done:
			t.Fatalf("spire-server exited:\n%s", log.String())
		default:
		}
		_, err := s.cli(nil, "healthcheck")
		return err
	})
	return s
}

// cli runs a spire-server subcommand against the running server.
func (s *spireServer) cli(stdin []byte, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.bin, append(args, "-socketPath", s.socket)...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("spire-server %s: %v: %s%s", strings.Join(args, " "), err, stderr.String(), out)
	}
	return out, nil
}

func (s *spireServer) must(t *testing.T, stdin []byte, args ...string) []byte {
	t.Helper()
	out, err := s.cli(stdin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sealBundleInSPIRE is the bundle of sealTD as SPIRE holds it.
func (s *spireServer) sealBundleInSPIRE(t *testing.T) *spiffebundle.Bundle {
	t.Helper()
	out := s.must(t, nil, "bundle", "list", "-format", "spiffe", "-id", "spiffe://"+sealTD)
	b, err := spiffebundle.Parse(spiffeid.RequireTrustDomainFromString(sealTD), out)
	if err != nil {
		t.Fatalf("SPIRE's bundle of %s: %v\n%s", sealTD, err, out)
	}
	return b
}

// TestSPIREFederation federates a real SPIRE server and a Seal ROT both ways over https_spiffe
// bundle endpoints, each refreshing the other's bundle after a CA change, and completes mTLS
// between a SPIRE-issued SVID (go-spiffe) and a Seal pod's SVID (pkg/sealtls), in both roles.
func TestSPIREFederation(t *testing.T) {
	spireBin, _ := testenv.SPIRE(t)
	tools := fedBuild(t)
	r := rottest.Start(t, rottest.WithTrustDomain(sealTD))
	spire := startSPIRE(t, spireBin, r.URL)

	// First contact: each side gets the other's bundle once, then refreshes it from the endpoint.
	spire.must(t, tools.export(t, r), "bundle", "set", "-format", "spiffe", "-id", "spiffe://"+sealTD)
	spireDoc := spire.must(t, nil, "bundle", "show", "-format", "spiffe")
	file := filepath.Join(t.TempDir(), "spire.json")
	if err := os.WriteFile(file, spireDoc, 0o600); err != nil {
		t.Fatal(err)
	}
	tools.sealctl(t, r, "bundle", "import", "--trust-domain", spireTD, file, "--bundle-endpoint-url", spire.fedURL,
		"--endpoint-profile", "https_spiffe", "--endpoint-spiffe-id", "spiffe://"+spireTD+"/spire/server")

	t.Run("SPIRE refreshes Seal's bundle from the ROT's endpoint", func(t *testing.T) {
		if n := len(spire.sealBundleInSPIRE(t).X509Authorities()); n != 1 {
			t.Fatalf("SPIRE holds %d X.509 authorities of %s before the rotation, want 1", n, sealTD)
		}
		tools.sealctl(t, r, "rotate", "rot-ca")
		testenv.Eventually(t, time.Minute, func() error {
			if _, err := spire.cli(nil, "federation", "refresh", "-id", "spiffe://"+sealTD); err != nil {
				return err
			}
			b := spire.sealBundleInSPIRE(t)
			if n := len(b.X509Authorities()); n != 2 {
				return fmt.Errorf("SPIRE holds %d X.509 authorities of %s, want the old and the rotated ROT CA", n, sealTD)
			}
			if len(b.JWTAuthorities()) == 0 {
				return fmt.Errorf("SPIRE holds no JWT authority of %s", sealTD)
			}
			return nil
		})
	})

	t.Run("Seal refreshes SPIRE's bundle from SPIRE's endpoint", func(t *testing.T) {
		before := fedBundleOf(t, r, spireTD)
		r.Server.RefreshBundles(context.Background(), true)
		after := fedBundleOf(t, r, spireTD)
		if after.LastError != "" || after.LastRefreshed == nil || (before.LastRefreshed != nil && !after.LastRefreshed.After(*before.LastRefreshed)) {
			t.Fatalf("after a refresh from %s: lastRefreshed %v (before %v), lastError %q", spire.fedURL, after.LastRefreshed, before.LastRefreshed, after.LastError)
		}
		if fedAuthorities(t, after) == 0 {
			t.Fatal("Seal holds no X.509 authority of SPIRE after the refresh")
		}
	})

	// A Seal pod of workload api, trusting spireTD, and a SPIRE SVID minted by the server.
	r.CreateWorkload(t, rotapi.Workload{Name: "api", FederatesWith: []string{spireTD}})
	sealDir := tools.pod(t, tools.egg(t, r, "api", "any"), spireTD)
	sealSrc := fedLoad(t, sealDir)
	sealID := "spiffe://" + sealTD + "/workload/api/peer/any"
	const spireID = "spiffe://" + spireTD + "/app"
	mint := t.TempDir()
	spire.must(t, nil, "x509", "mint", "-spiffeID", spireID, "-write", mint)
	spireSVID, err := x509svid.Load(filepath.Join(mint, "svid.pem"), filepath.Join(mint, "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	spireTrusts := spiffebundle.NewSet(spire.sealBundleInSPIRE(t))

	t.Run("a SPIRE SVID (go-spiffe) calls a Seal pod (sealtls)", func(t *testing.T) {
		srv := fedServe(t, sealSrc, sealtls.AuthorizeID(spireID))
		cfg := tlsconfig.MTLSClientConfig(spireSVID, spireTrusts, tlsconfig.AuthorizeID(spiffeid.RequireFromString(sealID)))
		if err := dialOK(srv.addr, cfg); err != nil {
			t.Fatalf("go-spiffe client with the SPIRE SVID: %v", err)
		}
		if res := <-srv.results; res.err != nil || res.peer.String() != spireID {
			t.Fatalf("the Seal server saw %v, %v; want %s", res.peer, res.err, spireID)
		}
	})

	t.Run("a Seal pod (sealtls) calls a SPIRE SVID (go-spiffe)", func(t *testing.T) {
		l, err := tls.Listen("tcp", "127.0.0.1:0", tlsconfig.MTLSServerConfig(spireSVID, spireTrusts, tlsconfig.AuthorizeID(spiffeid.RequireFromString(sealID))))
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		go func() {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			if tc := c.(*tls.Conn); tc.Handshake() == nil {
				_, _ = io.WriteString(tc, "ok")
			}
		}()
		if err := dialOK(l.Addr().String(), sealtls.ClientConfig(sealSrc, sealtls.AuthorizeID(spireID))); err != nil {
			t.Fatalf("sealtls client with the Seal SVID: %v", err)
		}
	})
}

// dialOK completes a TLS handshake to addr with cfg and expects "ok".
func dialOK(addr string, cfg *tls.Config) error {
	d := &net.Dialer{Timeout: 10 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil {
		return err
	}
	if string(b) != "ok" {
		return fmt.Errorf("read %q, want ok", b)
	}
	return nil
}
