package main_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"debug/elf"
	"encoding/json"
	"encoding/pem"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"filippo.io/age"

	"github.com/seal-dev/seal/internal/podfiles"
	"github.com/seal-dev/seal/internal/rot/rottest"
	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/testing/testenv"
)

const apiID = "spiffe://test.seal.dev/workload/payments/peer/api"

// TestImportGraph keeps seal-init small: no Kubernetes client, no cosign, no registry client.
func TestImportGraph(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", "./cmd/init")
	cmd.Dir = testenv.RepoRoot()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	// gRPC nearly doubles the binary: the Workload API lives in seal-agent (cmd/agent).
	forbidden := []string{"k8s.io/", "sigs.k8s.io/", "github.com/sigstore/", "github.com/google/go-containerregistry", "google.golang.org/grpc"}
	for _, d := range deps {
		for _, f := range forbidden {
			if strings.HasPrefix(d, f) {
				t.Errorf("seal-init imports %s", d)
			}
		}
	}
	if !strings.Contains(string(out), "github.com/seal-dev/seal/internal/enroll\n") {
		t.Errorf("go list -deps ./cmd/init does not list internal/enroll; is the check looking at the right package?\n%s", out)
	}
}

// TestStaticBinary: the seal-init the tests run (CGO_ENABLED=0) needs no dynamic loader, so it
// runs from the shared volume inside any app image, even FROM scratch.
func TestStaticBinary(t *testing.T) {
	f, err := elf.Open(testenv.Binary(t, "./cmd/init"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("seal-init has a %v program header: it is dynamically linked", p.Type)
		}
	}
}

// recipient returns the workload's current age recipient from the ROT's admin API.
func recipient(t *testing.T, r *rottest.ROT, workload string) age.Recipient {
	t.Helper()
	var k rotapi.KeysResponse
	if err := r.Admin.Do(t.Context(), http.MethodGet, rotapi.Path(rotapi.PathKeys, workload), nil, &k); err != nil {
		t.Fatal(err)
	}
	rcp, err := age.ParseX25519Recipient(k.Recipient)
	if err != nil {
		t.Fatal(err)
	}
	return rcp
}

func sealTo(t *testing.T, rcp age.Recipient, plain string) string {
	t.Helper()
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, rcp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(plain)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "sealed.age")
	if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRedeemWritesIdentity(t *testing.T) {
	bin := testenv.Binary(t, "./cmd/init")
	ageBin := ageCLI(t)
	r := rottest.Start(t)
	other := rottest.Start(t, rottest.WithTrustDomain("partner.example.org"))
	var doc json.RawMessage
	if err := other.Admin.Do(t.Context(), http.MethodGet, rotapi.PathExport, nil, &doc); err != nil {
		t.Fatal(err)
	}
	if err := r.Admin.Do(t.Context(), http.MethodPost, rotapi.PathBundles, rotapi.FederatedBundle{TrustDomain: other.TrustDomain, Bundle: string(doc)}, nil); err != nil {
		t.Fatal(err)
	}
	r.CreateWorkload(t, rotapi.Workload{Name: "payments", Peers: []string{"api"}, FederatesWith: []string{"partner.example.org"}})
	eggText := r.MintEgg(t, "payments", rotapi.MintRequest{Peer: "api"})
	sealed := sealTo(t, recipient(t, r, "payments"), "the database password")
	// The same, sealed by the operator's tool.
	sealedByCLI := filepath.Join(t.TempDir(), "sealed-by-sealctl.age")
	if err := os.WriteFile(sealedByCLI, sealctl(t, r.URL, r.AdminDir, []byte("the api token"), "seal", "payments"), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name     string
		args     []string
		fileMode fs.FileMode
		gid      int
	}{
		{name: "owner only", fileMode: 0o400, gid: os.Getgid()},
		{name: "group readable", args: []string{"--gid", "4242"}, fileMode: 0o440, gid: 4242},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.gid == 4242 && os.Getuid() != 0 {
				t.Skip("chown to another group needs root")
			}
			out := filepath.Join(t.TempDir(), "seal")
			code, stderr := run(t, []string{"SEAL_EGG=" + eggText}, bin, append([]string{"--out", out}, tc.args...)...)
			if code != 0 {
				t.Fatalf("seal-init exit %d; stderr:\n%s", code, stderr)
			}
			for _, secret := range []string{"AGE-SECRET-KEY", "PRIVATE KEY", eggText} {
				if strings.Contains(stderr, secret) {
					t.Errorf("seal-init logged secret material (%.20s...):\n%s", secret, stderr)
				}
			}
			if !strings.Contains(stderr, apiID) {
				t.Errorf("seal-init did not log the SPIFFE ID it got; stderr:\n%s", stderr)
			}
			names := []string{"tls.crt", "tls.key", "ca.crt", "keys.txt", "bundles/partner.example.org.pem"}
			for _, n := range names {
				fi, err := os.Stat(filepath.Join(out, n))
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode() != tc.fileMode {
					t.Errorf("%s mode %v, want %v", n, fi.Mode(), tc.fileMode)
				}
				if got := int(fi.Sys().(*syscall.Stat_t).Gid); got != tc.gid {
					t.Errorf("%s group %d, want %d", n, got, tc.gid)
				}
			}
			files, err := podfiles.Read(out, names...)
			if err != nil {
				t.Fatal(err)
			}
			pair, err := tls.X509KeyPair(files["tls.crt"], files["tls.key"])
			if err != nil {
				t.Fatalf("tls.crt and tls.key: %v", err)
			}
			roots := x509.NewCertPool()
			if !roots.AppendCertsFromPEM(files["ca.crt"]) {
				t.Fatal("ca.crt holds no certificate")
			}
			inter := x509.NewCertPool()
			for _, der := range pair.Certificate[1:] {
				c, _ := x509.ParseCertificate(der)
				inter.AddCert(c)
			}
			leaf := pair.Leaf
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: "api",
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
				t.Errorf("tls.crt does not verify against ca.crt: %v", err)
			}
			if len(leaf.URIs) != 1 || leaf.URIs[0].String() != apiID {
				t.Errorf("URI SANs %v, want [%s]", leaf.URIs, apiID)
			}
			if blk, _ := pem.Decode(files["tls.key"]); blk == nil || blk.Type != "PRIVATE KEY" {
				t.Errorf("tls.key is not a PKCS#8 PEM key")
			}
			if !bytes.Contains(files["bundles/partner.example.org.pem"], bytes.TrimSpace(other.CAPEM)) {
				t.Error("bundles/partner.example.org.pem is not partner.example.org's CA")
			}
			// The real age CLI decrypts with the identities seal-init wrote.
			plain, err := exec.Command(ageBin, "-d", "-i", filepath.Join(out, "keys.txt"), sealed).Output()
			if err != nil {
				t.Fatalf("age -d -i keys.txt: %v", err)
			}
			if string(plain) != "the database password" {
				t.Errorf("age decrypted %q", plain)
			}
			plain, err = exec.Command(ageBin, "-d", "-i", filepath.Join(out, "keys.txt"), sealedByCLI).Output()
			if err != nil || string(plain) != "the api token" {
				t.Errorf("age -d -i keys.txt on the output of sealctl seal: %q, %v", plain, err)
			}
		})
	}
}

func TestRevokedEggFailsAtOnce(t *testing.T) {
	bin := testenv.Binary(t, "./cmd/init")
	r := rottest.Start(t)
	r.CreateWorkload(t, rotapi.Workload{Name: "payments", Peers: []string{"api"}})
	info := r.MintEggInfo(t, "payments", rotapi.MintRequest{Peer: "api"})
	r.RevokeEgg(t, info.ID)
	dir := t.TempDir()
	eggFile := filepath.Join(dir, "egg")
	if err := os.WriteFile(eggFile, []byte(info.Egg+"\n"), 0o400); err != nil {
		t.Fatal(err)
	}
	termLog := filepath.Join(dir, "termination-log")
	if err := os.WriteFile(termLog, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "seal")
	// A two-minute timeout: only refusing at once lets the process end before wait's minute.
	code, stderr := run(t, []string{"SEAL_TERMINATION_LOG=" + termLog}, bin, "--egg-file", eggFile, "--out", out, "--timeout", "2m")
	want := "seal-init: the ROT at " + r.URL + " refused the Egg (403 Forbidden: redeem: egg " + info.ID + " is revoked): " +
		"the Egg is expired, revoked or from another ROT; mint a new one with `sealctl egg mint WORKLOAD --peer PEER`\n"
	if code != 1 || stderr != want {
		t.Errorf("exit %d, stderr\n%q\nwant exit 1, stderr\n%q", code, stderr, want)
	}
	if got, _ := os.ReadFile(termLog); string(got) != want {
		t.Errorf("termination log %q, want the failure line", got)
	}
	if entries, err := os.ReadDir(out); err == nil && len(entries) > 0 {
		t.Errorf("a refused redemption left files in --out: %v", entries)
	}
}

func TestBadEggOneLine(t *testing.T) {
	bin := testenv.Binary(t, "./cmd/init")
	code, stderr := run(t, []string{"SEAL_EGG=seal-egg-v1.bm90IGpzb24"}, bin, "--out", t.TempDir())
	if code != 1 || len(lines(stderr)) != 1 || !strings.HasPrefix(stderr, "seal-init: the Egg from environment variable SEAL_EGG is not a Seal Egg (egg: malformed: bad JSON") {
		t.Errorf("exit %d, stderr:\n%s\nwant exit 1 and one line about a malformed Egg", code, stderr)
	}
}
