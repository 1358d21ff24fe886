package rot_test

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"

	"github.com/seal-dev/seal/internal/rot/rottest"
	"github.com/seal-dev/seal/internal/rotapi"
)

// pod redeems an Egg of workload and returns a client presenting the pod's certificate and
// the pod's age identities (what seal-init writes to keys.txt).
func pod(t testing.TB, r *rottest.ROT, workload string) (*rotapi.Client, []age.Identity) {
	t.Helper()
	return podOf(t, r, workload, "")
}

// podOf is pod for a peer of the workload.
func podOf(t testing.TB, r *rottest.ROT, workload, peer string) (*rotapi.Client, []age.Identity) {
	t.Helper()
	key := p256(t)
	resp, err := r.Client(t, nil).Redeem(ctx(t), &rotapi.RedeemRequest{Egg: r.MintEgg(t, workload, rotapi.MintRequest{Peer: peer}), CSR: csrFor(t, key, nil)})
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair([]byte(resp.Certificate), pemBytes("PRIVATE KEY", der))
	if err != nil {
		t.Fatal(err)
	}
	var ids []age.Identity
	for _, k := range resp.DataKeys {
		id, err := age.ParseX25519Identity(k.Identity)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return r.Client(t, &cert), ids
}

func putSecret(t testing.TB, r *rottest.ROT, workload, name, value string, nb, ea *time.Time) rotapi.SecretInfo {
	t.Helper()
	var info rotapi.SecretInfo
	if err := r.Admin.Do(ctx(t), http.MethodPut, rotapi.Path(rotapi.PathAdminSecret, workload, name),
		rotapi.SecretPut{Value: []byte(value), NotBefore: nb, ExpiresAfter: ea}, &info); err != nil {
		t.Fatalf("putting secret %s/%s: %v", workload, name, err)
	}
	return info
}

func open(t testing.TB, value string, ids ...age.Identity) string {
	t.Helper()
	rd, err := age.Decrypt(armor.NewReader(strings.NewReader(value)), ids...)
	if err != nil {
		t.Fatalf("decrypting: %v", err)
	}
	b, err := io.ReadAll(rd)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// values decrypts a document's values with ids.
func values(t testing.TB, d *rotapi.SecretsDocument, ids ...age.Identity) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, e := range d.Secrets {
		out[e.Name] = open(t, e.Value, ids...)
	}
	return out
}

func TestSecretsAdminNeverShowsValues(t *testing.T) {
	r := rottest.Start(t)
	r.CreateWorkload(t, rotapi.Workload{Name: "payments"})
	putSecret(t, r, "payments", "db-password", "hunter2-plain", nil, nil)

	var list []rotapi.SecretInfo
	if err := r.Admin.Do(ctx(t), http.MethodGet, rotapi.Path(rotapi.PathAdminSecrets, "payments"), nil, &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Name != "db-password" || list[0].State != rotapi.SecretValid {
		t.Errorf("list = %+v, want db-password, valid", list)
	}
	var raw json.RawMessage
	if err := r.Admin.Do(ctx(t), http.MethodGet, rotapi.Path(rotapi.PathAdminSecret, "payments", "db-password"), nil, &raw); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "hunter2") || strings.Contains(string(raw), "value") {
		t.Errorf("get answered %s; it must not carry the value", raw)
	}
	// At rest: age armor only, never the plain value.
	b, err := os.ReadFile(filepath.Join(r.StateDir, "secrets", "payments", "db-password.json"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "hunter2") || !strings.Contains(string(b), "BEGIN AGE ENCRYPTED FILE") {
		t.Errorf("stored secret %s: want age armor, not the value", b)
	}
	if err := r.Admin.Do(ctx(t), http.MethodDelete, rotapi.Path(rotapi.PathAdminSecret, "payments", "db-password"), nil, nil); err != nil {
		t.Fatal(err)
	}
	var se *rotapi.StatusError
	if err := r.Admin.Do(ctx(t), http.MethodGet, rotapi.Path(rotapi.PathAdminSecret, "payments", "db-password"), nil, nil); !errors.As(err, &se) || se.Code != http.StatusNotFound {
		t.Errorf("get after delete: %v, want 404", err)
	}
}

func TestSecretsAdminRefusals(t *testing.T) {
	now := time.Now()
	past, later := now.Add(-time.Hour), now.Add(time.Hour)
	r := rottest.Start(t)
	r.CreateWorkload(t, rotapi.Workload{Name: "payments"})
	for _, tc := range []struct {
		name, workload, secret string
		put                    rotapi.SecretPut
		code                   int
	}{
		{"empty value", "payments", "a", rotapi.SecretPut{}, 400},
		{"too large", "payments", "a", rotapi.SecretPut{Value: make([]byte, rotapi.MaxSecretValue+1)}, 413},
		{"expired already", "payments", "a", rotapi.SecretPut{Value: []byte("x"), ExpiresAfter: &past}, 400},
		{"window reversed", "payments", "a", rotapi.SecretPut{Value: []byte("x"), NotBefore: &later, ExpiresAfter: &later}, 400},
		{"bad name", "payments", ".hidden", rotapi.SecretPut{Value: []byte("x")}, 400},
		{"no workload", "nope", "a", rotapi.SecretPut{Value: []byte("x")}, 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := r.Admin.Do(ctx(t), http.MethodPut, rotapi.Path(rotapi.PathAdminSecret, tc.workload, tc.secret), tc.put, nil)
			var se *rotapi.StatusError
			if !errors.As(err, &se) || se.Code != tc.code {
				t.Fatalf("got %v, want %d", err, tc.code)
			}
		})
	}
}

func TestPodSecrets(t *testing.T) {
	clk := &clock{t: time.Now()}
	r := rottest.Start(t, rottest.WithClock(clk.Now))
	r.CreateWorkload(t, rotapi.Workload{Name: "payments"})
	r.CreateWorkload(t, rotapi.Workload{Name: "other"})
	exp := clk.Now().Add(time.Hour)
	nb := clk.Now().Add(30 * time.Minute)
	putSecret(t, r, "payments", "db-password", "v1", nil, nil)
	putSecret(t, r, "payments", "session-key", "s1", nil, &exp)
	putSecret(t, r, "payments", "next-key", "n1", &nb, nil)
	putSecret(t, r, "other", "not-yours", "x", nil, nil)
	c, ids := pod(t, r, "payments")

	d, etag, err := c.Secrets(ctx(t), "")
	if err != nil {
		t.Fatal(err)
	}
	if got := values(t, d, ids...); len(got) != 2 || got["db-password"] != "v1" || got["session-key"] != "s1" {
		t.Errorf("secrets = %v, want db-password=v1 and session-key=s1 (next-key pending, not-yours another workload's)", got)
	}
	if etag == "" {
		t.Fatal("no ETag")
	}
	if _, _, err := c.Secrets(ctx(t), etag); !errors.Is(err, rotapi.ErrNotModified) {
		t.Errorf("If-None-Match with the current ETag: %v, want 304", err)
	}

	putSecret(t, r, "payments", "db-password", "v2", nil, nil)
	d, etag2, err := c.Secrets(ctx(t), etag)
	if err != nil {
		t.Fatalf("after an update: %v, want the new document", err)
	}
	if got := values(t, d, ids...)["db-password"]; got != "v2" || etag2 == etag {
		t.Errorf("after an update: db-password = %q etag %s (was %s), want v2 and a new ETag", got, etag2, etag)
	}

	clk.Advance(45 * time.Minute) // next-key starts
	d, etag3, err := c.Secrets(ctx(t), etag2)
	if err != nil {
		t.Fatalf("after notBefore: %v", err)
	}
	if got := values(t, d, ids...); got["next-key"] != "n1" || len(got) != 3 {
		t.Errorf("after notBefore: %v, want next-key too", got)
	}
	clk.Advance(20 * time.Minute) // session-key expires
	d, _, err = c.Secrets(ctx(t), etag3)
	if err != nil {
		t.Fatalf("after expiresAfter: %v", err)
	}
	if got := values(t, d, ids...); len(got) != 2 || got["session-key"] != "" {
		t.Errorf("after expiresAfter: %v, want session-key gone", got)
	}
}

func TestPodSecretsRefusals(t *testing.T) {
	r := rottest.Start(t)
	r.CreateWorkload(t, rotapi.Workload{Name: "payments"})
	admin, err := tls.LoadX509KeyPair(filepath.Join(r.AdminDir, "tls.crt"), filepath.Join(r.AdminDir, "tls.key"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cert *tls.Certificate
		code int
	}{
		{"no client certificate", nil, http.StatusUnauthorized},
		{"the admin certificate", &admin, http.StatusForbidden},
		{"a certificate naming the workload, not from its CA", forged(t, "spiffe://test.seal.dev/workload/payments/peer/any"), http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := r.Client(t, tc.cert).Secrets(ctx(t), "")
			var se *rotapi.StatusError
			if !errors.As(err, &se) || se.Code != tc.code || !strings.Contains(se.Message, "fix:") {
				t.Fatalf("got %v, want %d with a fix", err, tc.code)
			}
		})
	}
}

func TestSecretsFollowDataKeyRotation(t *testing.T) {
	r := rottest.Start(t)
	r.CreateWorkload(t, rotapi.Workload{Name: "payments"})
	putSecret(t, r, "payments", "db-password", "v1", nil, nil)
	_, oldIDs := pod(t, r, "payments")
	var k rotapi.KeysResponse
	if err := r.Admin.Do(ctx(t), http.MethodPost, rotapi.Path(rotapi.PathKeys, "payments"), nil, &k); err != nil {
		t.Fatal(err)
	}
	var info rotapi.SecretInfo
	if err := r.Admin.Do(ctx(t), http.MethodGet, rotapi.Path(rotapi.PathAdminSecret, "payments", "db-password"), nil, &info); err != nil {
		t.Fatal(err)
	}
	if info.DataKeyIndex != k.Index {
		t.Errorf("after rotation the secret is encrypted to data key %d, want the new %d", info.DataKeyIndex, k.Index)
	}
	c, ids := pod(t, r, "payments")
	d, _, err := c.Secrets(ctx(t), "")
	if err != nil {
		t.Fatal(err)
	}
	if got := values(t, d, ids[0])["db-password"]; got != "v1" { // ids[0] is the new key alone
		t.Errorf("with the new key alone: %q, want v1", got)
	}
	if _, err := age.Decrypt(armor.NewReader(strings.NewReader(d.Secrets[0].Value)), oldIDs...); err == nil {
		t.Error("the old data key still decrypts the re-encrypted value")
	}
}

func TestSecretsExportToRecipient(t *testing.T) {
	r := rottest.Start(t)
	r.CreateWorkload(t, rotapi.Workload{Name: "payments"})
	putSecret(t, r, "payments", "db-password", "v1", nil, nil)
	edge, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	var d rotapi.SecretsDocument
	if err := r.Admin.Do(ctx(t), http.MethodPost, rotapi.Path(rotapi.PathSecretsExport, "payments"), rotapi.ExportRequest{Recipient: edge.Recipient().String()}, &d); err != nil {
		t.Fatal(err)
	}
	if d.Algorithm != "age" || values(t, &d, edge)["db-password"] != "v1" {
		t.Errorf("export = %+v, want db-password=v1 for the edge", d)
	}
	var se *rotapi.StatusError
	if err := r.Admin.Do(ctx(t), http.MethodPost, rotapi.Path(rotapi.PathSecretsExport, "payments"), rotapi.ExportRequest{Recipient: "age1nope"}, nil); !errors.As(err, &se) || se.Code != 400 || !strings.Contains(se.Message, "fix:") {
		t.Errorf("bad recipient: %v, want 400 with a fix", err)
	}
}

func TestSecretsGoWithTheWorkload(t *testing.T) {
	r := rottest.Start(t)
	r.CreateWorkload(t, rotapi.Workload{Name: "payments"})
	putSecret(t, r, "payments", "db-password", "v1", nil, nil)
	if err := r.Admin.Do(ctx(t), http.MethodDelete, rotapi.Path(rotapi.PathWorkload, "payments"), nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(r.StateDir, "secrets", "payments", "db-password.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("secret file after deleting the workload: %v, want gone", err)
	}
	r.CreateWorkload(t, rotapi.Workload{Name: "payments"})
	var list []rotapi.SecretInfo
	if err := r.Admin.Do(ctx(t), http.MethodGet, rotapi.Path(rotapi.PathAdminSecrets, "payments"), nil, &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 0 {
		t.Errorf("a re-created workload has secrets %+v, want none", list)
	}
}

func pemBytes(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// forged is a self-signed client certificate carrying id.
func forged(t testing.TB, id string) *tls.Certificate {
	t.Helper()
	key := p256(t)
	u, err := url.Parse(id)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "forged"}, URIs: []*url.URL{u},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestPodSecretsPeerScoped(t *testing.T) {
	r := rottest.Start(t)
	r.CreateWorkload(t, rotapi.Workload{Name: "payments", Peers: []string{"api", "db"}})
	putSecret(t, r, "payments", "shared", "all", nil, nil)
	if err := r.Admin.Do(ctx(t), http.MethodPut, rotapi.Path(rotapi.PathAdminSecret, "payments", "db-admin"),
		rotapi.SecretPut{Value: []byte("root-pw"), Peers: []string{"db"}}, nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		peer string
		want []string
	}{
		{"db", []string{"db-admin", "shared"}},
		{"api", []string{"shared"}},
	} {
		t.Run(tc.peer, func(t *testing.T) {
			c, ids := podOf(t, r, "payments", tc.peer)
			d, _, err := c.Secrets(ctx(t), "")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for n := range values(t, d, ids...) {
				got = append(got, n)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("peer %s gets %v, want %v", tc.peer, got, tc.want)
			}
		})
	}
	var se *rotapi.StatusError
	err := r.Admin.Do(ctx(t), http.MethodPut, rotapi.Path(rotapi.PathAdminSecret, "payments", "x"), rotapi.SecretPut{Value: []byte("v"), Peers: []string{"web"}}, nil)
	if !errors.As(err, &se) || se.Code != http.StatusBadRequest || !strings.Contains(se.Message, "not a peer") {
		t.Errorf("a peer the workload does not have: %v, want 400", err)
	}
}

// TestPodSecretsAfterCARetired: a pod certificate that fetched secrets (and so is cached as
// verified) is refused once its Workload CA is retired.
func TestPodSecretsAfterCARetired(t *testing.T) {
	r := rottest.Start(t)
	r.CreateWorkload(t, rotapi.Workload{Name: "payments"})
	putSecret(t, r, "payments", "db-password", "v1", nil, nil)
	c, _ := pod(t, r, "payments")
	if _, _, err := c.Secrets(ctx(t), ""); err != nil {
		t.Fatal(err)
	}
	var cas []rotapi.CA
	if err := r.Admin.Do(ctx(t), http.MethodGet, rotapi.PathCAs, nil, &cas); err != nil {
		t.Fatal(err)
	}
	var old string
	for _, ca := range cas {
		if ca.Kind == rotapi.CAKindWorkload && ca.Workload == "payments" {
			old = ca.Fingerprint
		}
	}
	if err := r.Admin.Do(ctx(t), http.MethodPost, rotapi.Path(rotapi.PathRotateWorkloadCA, "payments")+"?now=true", nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := r.Admin.Do(ctx(t), http.MethodDelete, rotapi.Path(rotapi.PathCA, old), nil, nil); err != nil {
		t.Fatal(err)
	}
	var se *rotapi.StatusError
	if _, _, err := c.Secrets(ctx(t), ""); !errors.As(err, &se) || se.Code != http.StatusForbidden {
		t.Errorf("a certificate of the retired Workload CA: %v, want 403", err)
	}
}
