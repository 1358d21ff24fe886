package sealctl

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
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"

	"github.com/seal-dev/seal/internal/rot/rottest"
	"github.com/seal-dev/seal/internal/rotapi"
)

// envFor points sealctl at a test ROT through the environment, as a user's shell would.
func envFor(r *rottest.ROT) map[string]string {
	return map[string]string{EnvROT: r.URL, EnvAdmin: r.AdminDir}
}

// ok runs sealctl and fails the test unless it exits 0.
func ok(t *testing.T, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	res := run(t, env, stdin, args...)
	if res.code != 0 {
		t.Fatalf("sealctl %s: exit %d, stderr %q", strings.Join(args, " "), res.code, res.stderr)
	}
	return res
}

// refused runs sealctl and checks it fails with exit code 1, one error line containing want,
// and nothing on stdout.
func refused(t *testing.T, env map[string]string, want string, args ...string) {
	t.Helper()
	res := run(t, env, "", args...)
	if res.code != ExitFailed {
		t.Errorf("sealctl %s: exit %d, want %d (stderr %q)", strings.Join(args, " "), res.code, ExitFailed, res.stderr)
	}
	if !strings.Contains(res.stderr, want) || strings.Count(res.stderr, "\n") != 1 {
		t.Errorf("sealctl %s: stderr %q, want one line containing %q", strings.Join(args, " "), res.stderr, want)
	}
	if res.stdout != "" {
		t.Errorf("sealctl %s: stdout %q, want nothing", strings.Join(args, " "), res.stdout)
	}
}

// redeem redeems an Egg as a pod would and returns the workload's age identities.
func redeem(t *testing.T, r *rottest.ROT, eggText string) (*rotapi.RedeemResponse, error) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		t.Fatal(err)
	}
	c := r.Client(t, nil)
	return c.Redeem(context.Background(), &rotapi.RedeemRequest{
		Egg: eggText, CSR: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr})),
	})
}

func TestSession(t *testing.T) {
	r := rottest.Start(t)
	env := envFor(r)

	// Workloads.
	var w rotapi.Workload
	res := ok(t, env, "", "workload", "create", "payments", "--peer", "api", "--peer", "db", "--cert-ttl", "12h", "-o", "json")
	if err := json.Unmarshal([]byte(res.stdout), &w); err != nil {
		t.Fatalf("workload create -o json: %v in %q", err, res.stdout)
	}
	if w.Name != "payments" || strings.Join(w.Peers, ",") != "api,db" || w.CertTTL != "12h" || w.CAFingerprint == "" {
		t.Errorf("created %+v, want payments with peers api,db, certTTL 12h and a CA fingerprint", w)
	}
	res = ok(t, env, "", "workload", "get", "payments")
	for _, want := range []string{"Name:", "payments", "Peers:", "api,db", "Cert TTL:", "12h", w.CAFingerprint} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("workload get: stdout %q lacks %q", res.stdout, want)
		}
	}
	ok(t, env, "", "workload", "create", "orders")
	res = ok(t, env, "", "workload", "list")
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") || !strings.HasPrefix(lines[1], "orders") || !strings.HasPrefix(lines[2], "payments") {
		t.Errorf("workload list: %q, want a header and orders, payments", res.stdout)
	}
	var ws []rotapi.Workload
	res = ok(t, env, "", "workload", "list", "-o", "json")
	if err := json.Unmarshal([]byte(res.stdout), &ws); err != nil || len(ws) != 2 {
		t.Errorf("workload list -o json: %d workloads (%v), want 2", len(ws), err)
	}
	refused(t, env, `sealctl: the ROT refused: 409 workload "payments" already exists`, "workload", "create", "payments")
	res = ok(t, env, "", "workload", "create", "edge", "--federates-with", "partner.example.org", "--route-host", "edge.apps.example.org", "-o", "json")
	if err := json.Unmarshal([]byte(res.stdout), &w); err != nil || strings.Join(w.FederatesWith, ",") != "partner.example.org" || strings.Join(w.RouteHosts, ",") != "edge.apps.example.org" {
		t.Errorf("workload create edge: %q (%v)", res.stdout, err)
	}
	ok(t, env, "", "workload", "delete", "edge", "--yes")

	// Shell completion offers the ROT's workload names.
	res = ok(t, env, "", "__complete", "egg", "mint", "")
	if got := strings.Split(res.stdout, "\n"); len(got) < 3 || got[0] != "orders" || got[1] != "payments" {
		t.Errorf("completion of egg mint: %q, want orders and payments", res.stdout)
	}
	refused(t, env, `sealctl: the ROT refused: 404 workload "nope" does not exist`, "workload", "get", "nope")
	res = ok(t, env, "orders\n", "workload", "delete", "orders")
	if !strings.Contains(res.stdout, `workload "orders" deleted`) || !strings.Contains(res.stderr, "Type the workload name to confirm") {
		t.Errorf("workload delete: stdout %q stderr %q", res.stdout, res.stderr)
	}
	refused(t, env, `404 workload "orders" does not exist`, "workload", "get", "orders")

	// Eggs: only the Egg on stdout.
	res = ok(t, env, "", "egg", "mint", "payments", "--peer", "api", "--ttl", "1h")
	if !strings.HasPrefix(res.stdout, "seal-egg-v1.") || strings.Count(res.stdout, "\n") != 1 || !strings.HasSuffix(res.stdout, "\n") {
		t.Fatalf("egg mint: stdout %q, want exactly the Egg and a newline", res.stdout)
	}
	firstEgg := strings.TrimSpace(res.stdout)
	if !strings.Contains(res.stderr, "Minted Egg") || strings.Contains(res.stderr, firstEgg) {
		t.Errorf("egg mint: stderr %q, want the hint and never the Egg", res.stderr)
	}
	eggFile := filepath.Join(t.TempDir(), "egg.txt")
	res = ok(t, env, "", "egg", "mint", "payments", "--peer", "api", "--out", eggFile)
	if b, err := os.ReadFile(eggFile); err != nil || !strings.HasPrefix(string(b), "seal-egg-v1.") || res.stdout != "" {
		t.Errorf("egg mint --out: file %.20q (%v), stdout %q", b, err, res.stdout)
	}
	if fi, err := os.Stat(eggFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("egg mint --out: mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	savedEgg, _ := os.ReadFile(eggFile)
	var eggs []rotapi.EggInfo
	res = ok(t, env, "", "egg", "list", "payments", "-o", "json")
	if err := json.Unmarshal([]byte(res.stdout), &eggs); err != nil || len(eggs) != 2 || eggs[0].Peer != "api" || time.Until(eggs[0].NotAfter) > time.Hour {
		t.Fatalf("egg list -o json: %q (%v), want two Eggs for peer api, the 1h one first", res.stdout, err)
	}
	if _, err := redeem(t, r, strings.TrimSpace(string(savedEgg))); err != nil {
		t.Errorf("redeeming the Egg saved by --out: %v", err)
	}
	if strings.Contains(res.stdout, firstEgg) {
		t.Error("egg list shows the Egg itself")
	}
	id := eggs[0].ID
	if _, err := redeem(t, r, firstEgg); err != nil {
		t.Fatalf("redeeming the minted Egg: %v", err)
	}
	res = ok(t, env, "", "egg", "revoke", id)
	if !strings.Contains(res.stdout, "Egg "+id+" revoked") {
		t.Errorf("egg revoke: stdout %q", res.stdout)
	}
	res = ok(t, env, "", "egg", "list", "payments")
	if !strings.Contains(res.stdout, id) || !strings.Contains(res.stdout, "revoked") {
		t.Errorf("egg list after revoke: %q, want %s revoked", res.stdout, id)
	}
	if _, err := redeem(t, r, firstEgg); !rotapi.IsPermanent(err) {
		t.Errorf("redeeming a revoked Egg: err %v, want a 4xx", err)
	}
	refused(t, env, `the ROT refused: 400 peer "web" is not a peer of workload "payments"`, "egg", "mint", "payments", "--peer", "web")
	var minted rotapi.MintResponse
	res = ok(t, env, "", "egg", "mint", "payments", "--peer", "db", "--ttl", "10m", "-o", "json")
	if err := json.Unmarshal([]byte(res.stdout), &minted); err != nil || minted.Peer != "db" || !strings.HasPrefix(minted.Egg, "seal-egg-v1.") || res.stderr != "" {
		t.Errorf("egg mint -o json: stdout %q stderr %q (%v)", res.stdout, res.stderr, err)
	}
	refused(t, env, `the ROT refused: 404`, "egg", "revoke", "no-such-egg")

	// External client certificate.
	out := filepath.Join(t.TempDir(), "client")
	res = ok(t, env, "", "cert", "payments", "--peer", "db", "--out", out)
	wantID := "spiffe://" + r.TrustDomain + "/workload/payments/peer/db"
	if !strings.Contains(res.stdout, wantID) {
		t.Errorf("cert: stdout %q lacks %s", res.stdout, wantID)
	}
	checkClientCert(t, out, wantID)

	// Data keys and sealing.
	var k0, k1 rotapi.KeysResponse
	res = ok(t, env, "", "keys", "show", "payments", "-o", "json")
	if err := json.Unmarshal([]byte(res.stdout), &k0); err != nil || k0.Index != 0 || !strings.HasPrefix(k0.Recipient, "age1") {
		t.Fatalf("keys show: %q (%v)", res.stdout, err)
	}
	sealed0 := ok(t, env, "first secret\n", "seal", "payments").stdout
	res = ok(t, env, "", "keys", "rotate", "payments", "-o", "json")
	if err := json.Unmarshal([]byte(res.stdout), &k1); err != nil || k1.Index != 1 || k1.Recipient == k0.Recipient {
		t.Fatalf("keys rotate: %q (%v), want index 1 and a new recipient", res.stdout, err)
	}
	res = ok(t, env, "second secret\n", "seal", "payments", "--armor")
	if !strings.HasPrefix(res.stdout, "-----BEGIN AGE ENCRYPTED FILE-----") || !strings.Contains(res.stderr, "data key 1") {
		t.Errorf("seal --armor: stdout %.40q stderr %q", res.stdout, res.stderr)
	}
	sealed1 := res.stdout
	refused(t, env, `404 workload "nope" does not exist`, "seal", "nope")

	// A pod of the workload decrypts both with the identities it redeems.
	res = ok(t, env, "", "egg", "mint", "payments", "--peer", "api")
	rr, err := redeem(t, r, strings.TrimSpace(res.stdout))
	if err != nil {
		t.Fatalf("redeem: %v", err)
	}
	var ids []age.Identity
	for _, dk := range rr.DataKeys {
		id, err := age.ParseX25519Identity(dk.Identity)
		if err != nil {
			t.Fatalf("data key %s: %v", dk.ID, err)
		}
		ids = append(ids, id)
	}
	for name, c := range map[string]struct {
		sealed string
		plain  string
		armor  bool
	}{"key 0": {sealed0, "first secret\n", false}, "key 1 armored": {sealed1, "second secret\n", true}} {
		var src io.Reader = strings.NewReader(c.sealed)
		if c.armor {
			src = armor.NewReader(src)
		}
		dec, err := age.Decrypt(src, ids...)
		if err != nil {
			t.Errorf("%s: decrypt: %v", name, err)
			continue
		}
		got, _ := io.ReadAll(dec)
		if string(got) != c.plain {
			t.Errorf("%s: decrypted %q, want %q", name, got, c.plain)
		}
	}
}

// checkClientCert checks what a user would: the files, their modes, that the key matches the
// certificate, that it verifies against ca.crt and names wantID.
func checkClientCert(t *testing.T, dir, wantID string) {
	t.Helper()
	for name, mode := range map[string]os.FileMode{"tls.crt": 0o644, "tls.key": 0o600, "ca.crt": 0o644} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("cert: %v", err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s has mode %v, want %v", name, fi.Mode().Perm(), mode)
		}
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"))
	if err != nil {
		t.Fatalf("tls.crt and tls.key do not match: %v", err)
	}
	caPEM, _ := os.ReadFile(filepath.Join(dir, "ca.crt"))
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.crt holds no certificate")
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Errorf("tls.crt does not verify against ca.crt: %v", err)
	}
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != wantID {
		t.Errorf("tls.crt names %v, want %s", leaf.URIs, wantID)
	}
}

func TestBundleExportImport(t *testing.T) {
	prod := rottest.Start(t)
	partner := rottest.Start(t, rottest.WithTrustDomain("partner.example.org"))

	res := ok(t, envFor(prod), "", "bundle", "export")
	file := filepath.Join(t.TempDir(), "prod.json")
	if err := os.WriteFile(file, []byte(res.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := parseBundle(prod.TrustDomain, []byte(res.stdout), time.Now()); err != nil {
		t.Fatalf("the exported bundle does not parse: %v", err)
	}

	res = run(t, envFor(partner), "", "bundle", "list")
	if res.code != 0 || res.stdout != "" || !strings.Contains(res.stderr, "No federated trust domains") {
		t.Errorf("bundle list before import: %+v", res)
	}
	res = ok(t, envFor(partner), "", "bundle", "import", "--trust-domain", prod.TrustDomain, file)
	if !strings.Contains(res.stdout, `Imported the bundle of trust domain "`+prod.TrustDomain+`" (1 X.509 authorities)`) {
		t.Errorf("bundle import: stdout %q", res.stdout)
	}
	res = ok(t, envFor(partner), "", "bundle", "list")
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[1], prod.TrustDomain) {
		t.Errorf("bundle list: %q, want a header and %s", res.stdout, prod.TrustDomain)
	}
	var bs []rotapi.FederatedBundle
	res = ok(t, envFor(partner), "", "bundle", "list", "-o", "json")
	if err := json.Unmarshal([]byte(res.stdout), &bs); err != nil || len(bs) != 1 || bs[0].TrustDomain != prod.TrustDomain {
		t.Errorf("bundle list -o json: %q (%v)", res.stdout, err)
	}
	// stdin works too, and the ROT refuses its own trust domain.
	data, _ := os.ReadFile(file)
	res = run(t, envFor(prod), string(data), "bundle", "import", "--trust-domain", prod.TrustDomain, "-")
	if res.code != ExitFailed || !strings.Contains(res.stderr, "the ROT refused: 400") || !strings.Contains(res.stderr, "own trust domain") {
		t.Errorf("importing the ROT's own bundle: %+v", res)
	}
	// The exported bundle claimed for another trust domain still parses (bundles carry no
	// name), but a bad file never reaches the ROT.
	bad := filepath.Join(t.TempDir(), "bad.json")
	_ = os.WriteFile(bad, bytes.Repeat([]byte("x"), 10), 0o644)
	refused(t, envFor(partner), bad+": not a SPIFFE bundle document", "bundle", "import", "--trust-domain", "third.example.org", bad)
}

func TestAdminCredentialErrors(t *testing.T) {
	r := rottest.Start(t)
	other := rottest.Start(t, rottest.WithTrustDomain("other.example.org"))

	// The other ROT's admin directory: its ca.crt does not vouch for this ROT.
	refused(t, map[string]string{EnvROT: r.URL, EnvAdmin: other.AdminDir}, "is not the ROT of "+other.AdminDir+"/ca.crt", "workload", "list")

	// This ROT's ca.crt but the other ROT's admin certificate: the ROT refuses it.
	mixed := t.TempDir()
	for src, name := range map[string]string{
		filepath.Join(r.AdminDir, "ca.crt"):      "ca.crt",
		filepath.Join(other.AdminDir, "tls.crt"): "tls.crt",
		filepath.Join(other.AdminDir, "tls.key"): "tls.key",
	} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(mixed, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	refused(t, map[string]string{EnvROT: r.URL, EnvAdmin: mixed}, "the ROT refused the admin credentials in "+mixed+": 403", "workload", "list")

	// A missing admin directory.
	refused(t, map[string]string{EnvROT: r.URL, EnvAdmin: filepath.Join(t.TempDir(), "nope")}, "reading the admin credentials", "workload", "list")
}
