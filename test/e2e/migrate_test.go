package e2e

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/store"
	"github.com/seal-dev/seal/internal/testing/testenv"
)

const migTD = "migrate.example"

// migRef is the moving ROT as fedTools sees it: its one URL and the admin directory.
type migRef struct{ u, a string }

func (r migRef) url() string   { return r.u }
func (r migRef) admin() string { return r.a }

// migTwoContexts writes one kubeconfig holding both control planes as contexts east and west,
// as an operator's kubeconfig holds two clusters.
func migTwoContexts(t *testing.T, east, west *testenv.Env) string {
	t.Helper()
	out := clientcmdapi.NewConfig()
	for name, env := range map[string]*testenv.Env{"east": east, "west": west} {
		raw, err := clientcmd.LoadFromFile(env.Kubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		c := raw.Contexts[raw.CurrentContext]
		out.Clusters[name] = raw.Clusters[c.Cluster]
		out.AuthInfos[name] = raw.AuthInfos[c.AuthInfo]
		out.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	}
	out.CurrentContext = "east"
	file := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*out, file); err != nil {
		t.Fatal(err)
	}
	return file
}

// migrateCmd runs the real seal-rot migrate and returns its exit code and output.
func migrateCmd(t *testing.T, bin, kubeconfig string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"migrate"}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "KUBECONFIG=" + kubeconfig}
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, string(out)
}

// migServe runs seal-rot serve on addr (the ROT's one URL, which moves with it as a DNS name
// would) and waits until it answers as ready with the admin credentials in adminDir.
func migServe(t *testing.T, bin, addr, adminDir string, environ []string, args ...string) (*ksROT, *rotapi.Client) {
	t.Helper()
	r := &ksROT{addr: addr, log: &ksLog{}, done: make(chan error, 1)}
	r.cmd = exec.Command(bin, append([]string{"serve", "--listen", addr, "--trust-domain", migTD, "--external-url", "https://" + addr}, args...)...)
	r.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, environ...)
	r.cmd.Stderr = r.log
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.done <- r.cmd.Wait() }()
	t.Cleanup(func() { r.stop(t) })
	var c *rotapi.Client
	testenv.Eventually(t, 60*time.Second, func() error {
		select {
		case err := <-r.done:
			r.done <- err
			t.Fatalf("seal-rot exited (%v); log:\n%s", err, r.log)
		default:
		}
		var err error
		if c, err = migAdmin(addr, adminDir); err != nil {
			return err
		}
		return c.Do(context.Background(), http.MethodGet, rotapi.PathReadyz, nil, nil)
	})
	t.Cleanup(c.HTTP.CloseIdleConnections)
	return r, c
}

func migAdmin(addr, dir string) (*rotapi.Client, error) {
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"))
	if err != nil {
		return nil, err
	}
	return rotapi.NewClient("https://"+addr, caPEM, &cert)
}

// migPod runs the real seal-init with egg and returns the certificate chain it wrote.
func migPod(t *testing.T, initBin, egg string) []*x509.Certificate {
	t.Helper()
	out := t.TempDir()
	eggFile := filepath.Join(t.TempDir(), "egg")
	if err := os.WriteFile(eggFile, []byte(egg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, initBin, "--egg-file", eggFile, "--out", out, "--timeout", "30s")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "SEAL_TERMINATION_LOG=" + filepath.Join(out, "no-termination-log")}
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("seal-init: %v\n%s", err, b)
	}
	b, err := os.ReadFile(filepath.Join(out, "tls.crt"))
	if err != nil {
		t.Fatal(err)
	}
	var chain []*x509.Certificate
	for blk, rest := pem.Decode(b); blk != nil; blk, rest = pem.Decode(rest) {
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		chain = append(chain, c)
	}
	if len(chain) == 0 {
		t.Fatal("seal-init wrote a tls.crt without certificates")
	}
	return chain
}

// migBundle is the trust domain's bundle as /v1/bundle serves it.
func migBundle(t *testing.T, c *rotapi.Client) *spiffebundle.Bundle {
	t.Helper()
	var doc json.RawMessage
	if err := c.Do(context.Background(), http.MethodGet, rotapi.PathBundle, nil, &doc); err != nil {
		t.Fatal(err)
	}
	b, err := spiffebundle.Parse(spiffeid.RequireTrustDomainFromString(migTD), doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func migSeq(t *testing.T, c *rotapi.Client) uint64 {
	t.Helper()
	s, _ := migBundle(t, c).SequenceNumber()
	return s
}

// migChainsTo fails unless the pod's chain (leaf, Workload CA: what a peer gets in the TLS
// handshake) verifies with the authorities of a bundle taken before the move, which is what a
// federated peer holds.
func migChainsTo(t *testing.T, chain []*x509.Certificate, peerHeld *spiffebundle.Bundle, what string) {
	t.Helper()
	opts := x509.VerifyOptions{Roots: x509.NewCertPool(), Intermediates: x509.NewCertPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
	for _, c := range peerHeld.X509Authorities() {
		opts.Roots.AddCert(c)
	}
	for _, c := range chain[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := chain[0].Verify(opts); err != nil {
		t.Errorf("%s: the pod's certificate does not verify with the bundle peers held before the move: %v", what, err)
	}
}

// migDigest hashes a state directory's files (names, modes, times, contents) but the lock.
func migDigest(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Name() == "lock" {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %v %v\n", p, info.Mode(), info.ModTime())
		if !d.IsDir() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h.Write(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// migSecrets are the resourceVersions of the Secrets in ns.
func migSecrets(t *testing.T, env *testenv.Env, ns string) string {
	t.Helper()
	var list corev1.SecretList
	if err := env.Client.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range list.Items {
		out = append(out, s.Name+"@"+s.ResourceVersion)
	}
	return strings.Join(out, ",")
}

func migMint(t *testing.T, c *rotapi.Client, workload string) rotapi.MintResponse {
	t.Helper()
	var m rotapi.MintResponse
	if err := c.Do(context.Background(), http.MethodPost, rotapi.Path(rotapi.PathEggs, workload), rotapi.MintRequest{Peer: "api"}, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestMigrateROT moves one ROT, with the real seal-rot migrate, from a state directory into a
// namespace of one cluster, from there into another cluster, and back into a directory, starting
// the real seal-rot at every stop at the same URL (the DNS name moves, not the URL). An Egg a
// pod used before the first move redeems at every stop, the revoked Egg stays revoked, the
// bundle sequence goes on, and the certificates verify with the bundle peers held before.
func TestMigrateROT(t *testing.T) {
	rotBin := testenv.Binary(t, "./cmd/rot")
	initBin := testenv.Binary(t, "./cmd/init")
	sealctlBin := testenv.Binary(t, "./cmd/sealctl")
	east := testenv.Start(t, testenv.Options{NoControllerManager: true})
	west := testenv.Start(t, testenv.Options{NoControllerManager: true})
	kubeconfig := migTwoContexts(t, east, west)
	nsE, nsW := east.Namespace(t, nil), west.Namespace(t, nil)
	addr := ksFreeAddr(t)
	srcDir := filepath.Join(t.TempDir(), "state")
	adminDir := filepath.Join(srcDir, "admin")
	ctx := context.Background()

	// The external ROT: a workload, an Egg its pods use, and a revoked Egg.
	r, c := migServe(t, rotBin, addr, adminDir, nil, "--state-dir", srcDir)
	if err := c.Do(ctx, http.MethodPost, rotapi.PathWorkloads, rotapi.Workload{Name: "orders", Peers: []string{"api"}}, nil); err != nil {
		t.Fatal(err)
	}
	// An encrypted image's key, of a workload whose nodes attest: it must survive every move
	// (migrate compares each key's digest, and the key file is checked at the end).
	var imageKey rotapi.ImageKey
	for _, call := range []struct {
		path string
		in   any
		out  any
	}{
		{rotapi.PathAttestationPolicies, rotapi.AttestationPolicy{Name: "boot", PCRs: map[string]string{"7": strings.Repeat("ab", 32)}}, nil},
		{rotapi.PathWorkloads, rotapi.Workload{Name: "vault", Attest: "boot"}, nil},
		{rotapi.Path(rotapi.PathImageKeys, "vault"), rotapi.ImageKeyCreate{}, &imageKey},
	} {
		if err := c.Do(ctx, http.MethodPost, call.path, call.in, call.out); err != nil {
			t.Fatal(err)
		}
	}
	// A federated trust domain refreshed from its endpoint, and an invite not used yet.
	tools := fedTools{sealctlBin: sealctlBin, initBin: initBin}
	rotRef := migRef{u: "https://" + addr, a: adminDir}
	partner := fedStartROT(t, "partner.migrate.example")
	tools.importBundle(t, rotRef, partner.td, tools.export(t, partner), partner.url()+"/v1/bundle")
	inviteFile := filepath.Join(t.TempDir(), "invite.txt")
	if err := os.WriteFile(inviteFile, tools.sealctl(t, rotRef, "federation", "invite", "--ttl", "2h"), 0o600); err != nil {
		t.Fatal(err)
	}
	egg := migMint(t, c, "orders").Egg
	revoked := migMint(t, c, "orders")
	if err := c.Do(ctx, http.MethodDelete, rotapi.Path(rotapi.PathEgg, revoked.ID), nil, nil); err != nil {
		t.Fatal(err)
	}
	migPod(t, initBin, egg)
	held := migBundle(t, c) // what federated peers of migrate.example hold
	seq0, _ := held.SequenceNumber()
	r.stop(t)
	srcDigest := migDigest(t, srcDir)

	pod := func(what string) {
		t.Helper()
		migChainsTo(t, migPod(t, initBin, egg), held, what)
		caPEM, _ := os.ReadFile(filepath.Join(adminDir, "ca.crt"))
		pc, err := rotapi.NewClient("https://"+addr, caPEM, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer pc.HTTP.CloseIdleConnections()
		if _, err := pc.Redeem(ctx, &rotapi.RedeemRequest{Egg: revoked.Egg, CSR: ksCSR(t)}); err == nil || !strings.Contains(err.Error(), "revoked") {
			t.Errorf("%s: the Egg revoked before the move redeemed (err %v), want it refused as revoked", what, err)
		}
	}

	// Directory -> east: the dry run writes nothing; the move; a second move is refused.
	code, out := migrateCmd(t, rotBin, kubeconfig, "--from", "dir:"+srcDir, "--to", "kube:east/"+nsE, "--dry-run")
	if code != 0 || !strings.Contains(out, "would move") || !strings.Contains(out, "egg records") {
		t.Fatalf("migrate --dry-run: exit %d:\n%s", code, out)
	}
	if got := migSecrets(t, east, nsE); got != "" {
		t.Fatalf("migrate --dry-run wrote Secrets %s", got)
	}
	if code, out = migrateCmd(t, rotBin, kubeconfig, "--from", "dir:"+srcDir, "--to", "kube:east/"+nsE); code != 0 || !strings.Contains(out, "verified") {
		t.Fatalf("migrate dir -> east: exit %d:\n%s", code, out)
	}
	if code, out = migrateCmd(t, rotBin, kubeconfig, "--from", "dir:"+srcDir, "--to", "kube:east/"+nsE); code != 1 || !strings.Contains(out, "not empty") {
		t.Errorf("a second migrate into the same namespace: exit %d, want 1 and \"not empty\":\n%s", code, out)
	}
	r, c = migServe(t, rotBin, addr, adminDir, []string{"KUBECONFIG=" + east.Kubeconfig}, "--kube", "--namespace", nsE)
	pod("east")
	if got := migSeq(t, c); got != seq0 {
		t.Errorf("east: bundle sequence %d, want %d as before the move", got, seq0)
	}
	egg2 := migMint(t, c, "orders").Egg

	// East -> west (another control plane, named by its kubeconfig context), the ROT running
	// and drained meanwhile, with the real sealctl: admin changes refused, pods still redeem.
	sealctl := func(args ...string) (int, string, string) {
		return sealctlRun(sealctlBin, append([]string{"--rot", "https://" + addr, "--admin", adminDir}, args...)...)
	}
	if code, _, errOut := sealctl("rot", "drain", "--reason", "moving to west"); code != 0 {
		t.Fatalf("sealctl rot drain: exit %d: %s", code, errOut)
	}
	if code, _, errOut := sealctl("egg", "mint", "orders", "--peer", "api"); code != 1 || !strings.Contains(errOut, "409") || !strings.Contains(errOut, "moving to west") {
		t.Errorf("sealctl egg mint on a drained ROT: exit %d, stderr %q; want 1 and a 409 naming the drain", code, errOut)
	}
	pod("east, drained")
	eastSecrets := migSecrets(t, east, nsE)
	if code, out = migrateCmd(t, rotBin, kubeconfig, "--from", "kube:east/"+nsE, "--to", "kube:west/"+nsW); code != 0 {
		t.Fatalf("migrate east -> west: exit %d:\n%s", code, out)
	}
	if got := migSecrets(t, east, nsE); got != eastSecrets {
		t.Errorf("migrate wrote to its source namespace: Secrets %s, were %s", got, eastSecrets)
	}
	r.stop(t)
	r, c = migServe(t, rotBin, addr, adminDir, []string{"KUBECONFIG=" + west.Kubeconfig}, "--kube", "--namespace", nsW)
	code, stdout, _ := sealctl("rot", "status", "-o", "json")
	var status rotapi.DrainStatus
	if err := json.Unmarshal([]byte(stdout), &status); code != 0 || err != nil || !status.Drained || status.Reason != "moving to west" {
		t.Errorf("sealctl rot status at the moved ROT: exit %d, %s; want it drained as the source was", code, stdout)
	}
	pod("west, drained")
	migChainsTo(t, migPod(t, initBin, egg2), held, "west, Egg minted in east")
	if code, _, errOut := sealctl("rot", "resume"); code != 0 {
		t.Fatalf("sealctl rot resume: exit %d: %s", code, errOut)
	}
	code, egg3, errOut := sealctl("egg", "mint", "orders", "--peer", "api")
	if code != 0 {
		t.Fatalf("sealctl egg mint after resume: exit %d: %s", code, errOut)
	}
	migChainsTo(t, migPod(t, initBin, strings.TrimSpace(egg3)), held, "west, Egg minted after resume")
	r.stop(t)

	// West -> a directory again.
	dstDir := filepath.Join(t.TempDir(), "state")
	if code, out = migrateCmd(t, rotBin, kubeconfig, "--from", "kube:west/"+nsW, "--to", "dir:"+dstDir); code != 0 {
		t.Fatalf("migrate west -> dir: exit %d:\n%s", code, out)
	}
	_, c = migServe(t, rotBin, addr, adminDir, nil, "--state-dir", dstDir)
	pod("back in a directory")
	var moved store.ImageKey
	if b, err := os.ReadFile(filepath.Join(dstDir, "image-keys", imageKey.ID+".json")); err != nil {
		t.Errorf("the image key made before the moves: %v", err)
	} else if err := json.Unmarshal(b, &moved); err != nil || moved.Workload != "vault" || moved.Key != base64.StdEncoding.EncodeToString(imageKey.Key) {
		t.Errorf("the image key after dir -> east -> west -> dir: workload %q, key changed: %v", moved.Workload, moved.Key != base64.StdEncoding.EncodeToString(imageKey.Key))
	}
	// Federation moved with it: the partner's bundle and endpoint are there, and the invite
	// issued before the first move still lets a newcomer join (same URL, same pinned CA).
	if b := tools.bundle(t, rotRef, partner.td); b.BundleEndpointURL != partner.url()+"/v1/bundle" || b.EndpointProfile != "https_spiffe" {
		t.Errorf("the moved ROT holds for %s: %+v; want the endpoint imported before the move", partner.td, b)
	}
	newcomer := fedStartROT(t, "newcomer.migrate.example")
	tools.sealctl(t, newcomer, "federation", "join", inviteFile)
	if b := tools.bundle(t, newcomer, migTD); b.BundleEndpointURL != "https://"+addr+"/v1/bundle" {
		t.Errorf("the newcomer, joined with an invite issued before the moves, holds %+v", b)
	}
	if b := tools.bundle(t, rotRef, newcomer.td); b.BundleEndpointURL != newcomer.url()+"/v1/bundle" {
		t.Errorf("the moved ROT holds for the newcomer %+v, want its endpoint", b)
	}
	// The moved ROT's next bundle goes on from the sequence it had.
	if err := c.Do(ctx, http.MethodPost, rotapi.PathRotateROTCA, nil, nil); err != nil {
		t.Fatal(err)
	}
	if got := migSeq(t, c); got != seq0+1 {
		t.Errorf("after a ROT CA rotation at the moved ROT: bundle sequence %d, want %d", got, seq0+1)
	}
	if migDigest(t, srcDir) != srcDigest {
		t.Error("the first source directory changed")
	}
}
