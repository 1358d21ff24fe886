package rot_test

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seal-dev/seal/internal/rot"
	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/store"
)

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// TestSplitListeners: with --admin-listen and --metrics-listen the admin API and /metrics are
// served only there and answer 404 on the public listener.
func TestSplitListeners(t *testing.T) {
	dir := t.TempDir()
	st, err := store.OpenFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pub, adm, met := listen(t), listen(t), listen(t)
	s, err := rot.New(ctx(t), rot.Config{Store: st, TrustDomain: "split.test", ExternalURL: "https://" + pub.Addr().String(),
		AdminOut: rot.WriteAdminDir(filepath.Join(dir, "admin")), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	c, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.ServeSplit(c, pub, rot.Split{Admin: adm, Metrics: met}) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "admin", rot.AdminCertFile), filepath.Join(dir, "admin", rot.AdminKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	client := func(addr string) *rotapi.Client {
		cl, err := rotapi.NewClient("https://"+addr, s.CAPEM(), &cert)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.HTTP.CloseIdleConnections)
		return cl
	}
	pubC, admC := client(pub.Addr().String()), client(adm.Addr().String())
	get := func(name string, cl *http.Client, url string, want int) string {
		t.Helper()
		resp, err := cl.Get(url)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Errorf("%s: GET %s = %d, want %d (%s)", name, url, resp.StatusCode, want, b)
		}
		return string(b)
	}
	pubURL, admURL, metURL := "https://"+pub.Addr().String(), "https://"+adm.Addr().String(), "http://"+met.Addr().String()
	for _, tc := range []struct {
		name string
		cl   *http.Client
		url  string
		want int
	}{
		{"admin API on the public listener", pubC.HTTP, pubURL + rotapi.PathWorkloads, http.StatusNotFound},
		{"admin API by a dotted path on the public listener", pubC.HTTP, pubURL + "/v1/./admin/workloads", http.StatusNotFound},
		{"admin API by a doubled slash on the public listener", pubC.HTTP, pubURL + "//v1/admin//workloads", http.StatusNotFound},
		{"admin API by an escaped path on the public listener", pubC.HTTP, pubURL + "/v1/%61dmin/workloads", http.StatusNotFound},
		{"metrics on the public listener", pubC.HTTP, pubURL + rotapi.PathMetrics, http.StatusNotFound},
		{"bundle on the public listener", pubC.HTTP, pubURL + rotapi.PathBundle, http.StatusOK},
		{"health on the public listener", pubC.HTTP, pubURL + rotapi.PathHealthz, http.StatusOK},
		{"admin API on the admin listener", admC.HTTP, admURL + rotapi.PathWorkloads, http.StatusOK},
		{"bundle on the admin listener", admC.HTTP, admURL + rotapi.PathBundle, http.StatusNotFound},
		{"metrics on the admin listener", admC.HTTP, admURL + rotapi.PathMetrics, http.StatusNotFound},
		{"metrics on the metrics listener", http.DefaultClient, metURL + rotapi.PathMetrics, http.StatusOK},
		{"bundle on the metrics listener", http.DefaultClient, metURL + rotapi.PathBundle, http.StatusNotFound},
		{"admin API on the metrics listener", http.DefaultClient, metURL + rotapi.PathWorkloads, http.StatusNotFound},
	} {
		get(tc.name, tc.cl, tc.url, tc.want)
	}
	if body := get("metrics", http.DefaultClient, metURL+rotapi.PathMetrics, http.StatusOK); !strings.Contains(body, "seal_rot_workloads") {
		t.Errorf("metrics listener body lacks seal_rot_workloads")
	}
	// Without a client certificate the admin listener still refuses.
	if err := client(adm.Addr().String()).Do(ctx(t), http.MethodGet, rotapi.PathWorkloads, nil, nil); err != nil {
		t.Errorf("admin with cert on the admin listener: %v", err)
	}
	anon, _ := rotapi.NewClient(admURL, s.CAPEM(), nil)
	defer anon.HTTP.CloseIdleConnections()
	if err := anon.Do(ctx(t), http.MethodGet, rotapi.PathWorkloads, nil, nil); statusOf(err) != http.StatusUnauthorized {
		t.Errorf("anonymous on the admin listener: %v, want 401", err)
	}
}
