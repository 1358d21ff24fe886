package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seal-dev/seal/internal/ca"
	"github.com/seal-dev/seal/internal/kubestore"
	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/testing/testenv"
	sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"
)

type ksLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *ksLog) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *ksLog) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// ksROT is a seal-rot --kube process.
type ksROT struct {
	addr string
	cmd  *exec.Cmd
	log  *ksLog
	done chan error
}

func ksStart(t *testing.T, bin string, env *testenv.Env, ns string) *ksROT {
	t.Helper()
	return ksServe(t, bin, []string{"KUBECONFIG=" + env.Kubeconfig}, "--kube", "--namespace", ns, "--trust-domain", "kube-e2e.example")
}

func ksFreeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// ksServe runs seal-rot serve with args on a free loopback port.
func ksServe(t *testing.T, bin string, environ []string, args ...string) *ksROT {
	t.Helper()
	addr := ksFreeAddr(t)
	r := &ksROT{addr: addr, log: &ksLog{}, done: make(chan error, 1)}
	r.cmd = exec.Command(bin, append([]string{"serve", "--listen", addr}, args...)...)
	r.cmd.Env = append(os.Environ(), environ...)
	r.cmd.Stderr = r.log
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.done <- r.cmd.Wait() }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop ends the process with SIGTERM (a graceful shutdown) and waits for it.
func (r *ksROT) stop(t *testing.T) {
	select {
	case err := <-r.done:
		r.done <- err
		return
	default:
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-r.done:
		r.done <- err
	case <-time.After(20 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.done
		t.Errorf("seal-rot did not stop on SIGTERM; log:\n%s", r.log)
	}
}

// ksAdmin reads the admin credentials from Secret seal-rot-admin, as an operator would with
// kubectl, and waits for the ROT to be ready.
func ksAdmin(t *testing.T, env *testenv.Env, ns string, r *ksROT) (*rotapi.Client, []byte) {
	t.Helper()
	var c *rotapi.Client
	var caPEM []byte
	testenv.Eventually(t, 60*time.Second, func() error {
		select {
		case err := <-r.done:
			r.done <- err
			t.Fatalf("seal-rot exited (%v); log:\n%s", err, r.log)
		default:
		}
		var sec corev1.Secret
		if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: kubestore.AdminSecret}, &sec); err != nil {
			return err
		}
		cert, err := tls.X509KeyPair(sec.Data["tls.crt"], sec.Data["tls.key"])
		if err != nil {
			return err
		}
		caPEM = sec.Data["ca.crt"]
		if c, err = rotapi.NewClient("https://"+r.addr, caPEM, &cert); err != nil {
			return err
		}
		return c.Do(context.Background(), http.MethodGet, rotapi.PathReadyz, nil, nil)
	})
	t.Cleanup(c.HTTP.CloseIdleConnections)
	return c, caPEM
}

func ksCSR(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

// TestKubeStoreROT runs the real seal-rot with --kube against the real control plane.
func TestKubeStoreROT(t *testing.T) {
	env := testenv.Start(t, testenv.Options{NoControllerManager: true})
	bin := testenv.Binary(t, "./cmd/rot")
	ns := env.Namespace(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// First start: the authority and admin Secrets appear.
	first := ksStart(t, bin, env, ns)
	admin, caPEM := ksAdmin(t, env, ns, first)
	var auth corev1.Secret
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: kubestore.AuthoritySecret}, &auth); err != nil {
		t.Fatalf("no authority Secret after the first start: %v", err)
	}

	// A partner trust domain, federated by hand (its bundle pasted into the resource).
	partner, err := ca.NewRoot("partner.example", 0, ca.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pb := spiffebundle.New(spiffeid.RequireTrustDomainFromString("partner.example"))
	pb.AddX509Authority(partner.Cert)
	pb.SetSequenceNumber(12)
	doc, err := pb.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	ftd := &sealv1.FederatedTrustDomain{ObjectMeta: metav1.ObjectMeta{Name: "partner"},
		Spec: sealv1.FederatedTrustDomainSpec{TrustDomain: "partner.example", TrustDomainBundle: string(doc)}}
	// A workload made with kubectl apply, not sealctl.
	wl := &sealv1.Workload{ObjectMeta: metav1.ObjectMeta{Name: "orders"},
		Spec: sealv1.WorkloadSpec{Peers: []string{"api"}, FederatesWith: []string{"partner.example"}}}
	// Two trust domains refreshed from their bundle endpoints: another ROT (state directory)
	// that serves its bundle, and one whose endpoint is down.
	peerDir := t.TempDir()
	peer := ksServe(t, bin, nil, "--state-dir", peerDir, "--trust-domain", "peer.example")
	var peerDoc json.RawMessage
	testenv.Eventually(t, 30*time.Second, func() error {
		caPEM, err := os.ReadFile(peerDir + "/admin/ca.crt")
		if err != nil {
			return err
		}
		c, err := rotapi.NewClient("https://"+peer.addr, caPEM, nil)
		if err != nil {
			return err
		}
		defer c.HTTP.CloseIdleConnections()
		return c.Do(ctx, http.MethodGet, rotapi.PathBundle, nil, &peerDoc)
	})
	down, err := ca.NewRoot("down.example", 0, ca.Options{})
	if err != nil {
		t.Fatal(err)
	}
	db := spiffebundle.New(spiffeid.RequireTrustDomainFromString("down.example"))
	db.AddX509Authority(down.Cert)
	downDoc, err := db.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	endpoint := func(name, td, url, doc string) *sealv1.FederatedTrustDomain {
		return &sealv1.FederatedTrustDomain{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: sealv1.FederatedTrustDomainSpec{
			TrustDomain: td, BundleEndpointURL: url, TrustDomainBundle: doc,
			BundleEndpointProfile: &sealv1.BundleEndpointProfile{Type: "https_spiffe", EndpointSPIFFEID: "spiffe://" + td + "/seal/rot"}}}
	}
	refreshed := endpoint("peer", "peer.example", "https://"+peer.addr+rotapi.PathBundle, string(peerDoc))
	failing := endpoint("down", "down.example", "https://"+ksFreeAddr(t)+rotapi.PathBundle, string(downDoc))

	for _, o := range []client.Object{ftd, wl, refreshed, failing} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	var fp string
	testenv.Eventually(t, 30*time.Second, func() error {
		var got sealv1.Workload
		if err := env.Client.Get(ctx, client.ObjectKey{Name: "orders"}, &got); err != nil {
			return err
		}
		if !meta.IsStatusConditionTrue(got.Status.Conditions, sealv1.ConditionReady) || got.Status.CAFingerprint == "" {
			return fmt.Errorf("Workload orders status = %+v, want Ready with a caFingerprint", got.Status)
		}
		fp = got.Status.CAFingerprint
		var f sealv1.FederatedTrustDomain
		if err := env.Client.Get(ctx, client.ObjectKey{Name: "partner"}, &f); err != nil {
			return err
		}
		if !meta.IsStatusConditionTrue(f.Status.Conditions, sealv1.ConditionReady) || f.Status.SequenceNumber == nil || *f.Status.SequenceNumber != 12 {
			return fmt.Errorf("FederatedTrustDomain partner status = %+v, want Ready with sequence 12", f.Status)
		}
		var w rotapi.Workload
		if err := admin.Do(ctx, http.MethodGet, rotapi.Path(rotapi.PathWorkload, "orders"), nil, &w); err != nil {
			return fmt.Errorf("seal-rot does not serve workload orders yet: %w", err)
		}
		return nil
	})

	// Mint and redeem an Egg for it.
	var minted rotapi.MintResponse
	if err := admin.Do(ctx, http.MethodPost, rotapi.Path(rotapi.PathEggs, "orders"), rotapi.MintRequest{Peer: "api"}, &minted); err != nil {
		t.Fatalf("minting an Egg: %v", err)
	}
	pod, err := rotapi.NewClient("https://"+first.addr, caPEM, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pod.HTTP.CloseIdleConnections()
	resp, err := pod.Redeem(ctx, &rotapi.RedeemRequest{Egg: minted.Egg, CSR: ksCSR(t)})
	if err != nil {
		t.Fatalf("redeeming: %v", err)
	}
	if want := "spiffe://kube-e2e.example/workload/orders/peer/api"; resp.SPIFFEID != want {
		t.Errorf("SPIFFE ID %q, want %q", resp.SPIFFEID, want)
	}
	wcas, err := ca.ParseCerts([]byte(resp.TrustBundle))
	if err != nil || len(wcas) != 1 || ca.Fingerprint(wcas[0]) != fp {
		t.Errorf("trust bundle is not the Workload CA of the status (%s): %v", fp, err)
	}
	if got := resp.FederatedBundles["partner.example"]; got != string(ca.CertPEM(partner.Cert)) {
		t.Errorf("federated bundle of partner.example = %q, want the partner CA", got)
	}

	// A second replica shares the state: it serves the workload and sees revocations.
	second := ksStart(t, bin, env, ns)
	admin2, _ := ksAdmin(t, env, ns, second)
	if err := admin2.Do(ctx, http.MethodDelete, rotapi.Path(rotapi.PathEgg, minted.ID), nil, nil); err != nil {
		t.Fatalf("revoking through the second replica: %v", err)
	}
	testenv.Eventually(t, 20*time.Second, func() error {
		_, err := pod.Redeem(ctx, &rotapi.RedeemRequest{Egg: minted.Egg, CSR: ksCSR(t)})
		var se *rotapi.StatusError
		if !errors.As(err, &se) || se.Code != http.StatusForbidden {
			return fmt.Errorf("redeeming a revoked Egg at the first replica: %v, want 403", err)
		}
		return nil
	})
	second.stop(t)

	// Restart: the same ROT CA and Workload CA.
	first.stop(t)
	again := ksStart(t, bin, env, ns)
	admin3, caPEM3 := ksAdmin(t, env, ns, again)
	if !bytes.Equal(caPEM3, caPEM) {
		t.Error("the admin Secret changed over a restart")
	}
	var after corev1.Secret
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: kubestore.AuthoritySecret}, &after); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(after.Data["authority.json"], auth.Data["authority.json"]) {
		t.Error("the authority Secret changed over a restart")
	}
	var w rotapi.Workload
	if err := admin3.Do(ctx, http.MethodGet, rotapi.Path(rotapi.PathWorkload, "orders"), nil, &w); err != nil || w.CAFingerprint != fp {
		t.Errorf("after restart: workload %+v, %v; want the same Workload CA %s", w, err, fp)
	}
	// The endpoints were polled (every 15 seconds): the statuses say how it went.
	testenv.Eventually(t, 60*time.Second, func() error {
		var f sealv1.FederatedTrustDomain
		if err := env.Client.Get(ctx, client.ObjectKey{Name: "peer"}, &f); err != nil {
			return err
		}
		if !meta.IsStatusConditionTrue(f.Status.Conditions, sealv1.ConditionReady) || f.Status.LastRefreshed == nil || f.Status.LastError != "" {
			return fmt.Errorf("peer status = %+v, want Ready with lastRefreshed", f.Status)
		}
		if err := env.Client.Get(ctx, client.ObjectKey{Name: "down"}, &f); err != nil {
			return err
		}
		c := meta.FindStatusCondition(f.Status.Conditions, sealv1.ConditionReady)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != "RefreshFailed" || f.Status.LastError == "" {
			return fmt.Errorf("down status = %+v, want Ready False RefreshFailed with lastError", f.Status)
		}
		return nil
	})

	// kubectl delete: the workload disappears from the ROT.
	if err := env.Client.Delete(ctx, &sealv1.Workload{ObjectMeta: metav1.ObjectMeta{Name: "orders"}}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, func() error {
		err := admin3.Do(ctx, http.MethodGet, rotapi.Path(rotapi.PathWorkload, "orders"), nil, nil)
		var se *rotapi.StatusError
		if !errors.As(err, &se) || se.Code != http.StatusNotFound {
			return fmt.Errorf("GET deleted workload: %v, want 404", err)
		}
		if err := env.Client.Get(ctx, client.ObjectKey{Name: "orders"}, &sealv1.Workload{}); err == nil {
			return errors.New("the Workload resource is still there (finalizer)")
		}
		return nil
	})
	if t.Failed() {
		t.Logf("seal-rot log:\n%s", again.log)
	}
	again.stop(t)

	// Two replicas starting at once on an empty namespace: one creates the ROT CA, and the
	// admin Secret works against every replica left running (a loser exits and, in a
	// Deployment, restarts onto the winner's state).
	ns2 := env.Namespace(t, nil)
	racers := []*ksROT{ksStart(t, bin, env, ns2), ksStart(t, bin, env, ns2)}
	running := 0
	for _, r := range racers {
		testenv.Eventually(t, 60*time.Second, func() error {
			select {
			case err := <-r.done:
				r.done <- err
				if !strings.Contains(r.log.String(), "another seal-rot") && !strings.Contains(r.log.String(), "state changed in the API server") {
					t.Errorf("a racing seal-rot exited (%v) without naming the race; log:\n%s", err, r.log)
				}
				return nil
			default:
			}
			var sec corev1.Secret
			if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns2, Name: kubestore.AdminSecret}, &sec); err != nil {
				return err
			}
			cert, err := tls.X509KeyPair(sec.Data["tls.crt"], sec.Data["tls.key"])
			if err != nil {
				return err
			}
			c, err := rotapi.NewClient("https://"+r.addr, sec.Data["ca.crt"], &cert)
			if err != nil {
				return err
			}
			defer c.HTTP.CloseIdleConnections()
			if err := c.Do(ctx, http.MethodGet, rotapi.PathWorkloads, nil, nil); err != nil {
				return fmt.Errorf("replica %s with the admin Secret: %w", r.addr, err)
			}
			running++
			return nil
		})
	}
	if running == 0 {
		t.Error("no replica survived the first-start race")
	}
	t.Logf("%d of 2 replicas starting at once kept running", running)
}
