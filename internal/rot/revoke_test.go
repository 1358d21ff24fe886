package rot_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/seal-dev/seal/internal/egg"
	"github.com/seal-dev/seal/internal/rot/rottest"
	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/store"
)

// writeEggRecord writes an Egg record into a file state directory behind the running ROT's
// back, as another replica or a restore from backup would.
func writeEggRecord(t *testing.T, stateDir string, e store.Egg) {
	t.Helper()
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(stateDir, "eggs"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := store.WriteFileAtomic(filepath.Join(stateDir, "eggs", e.ID+".json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// hugeRSACSR is a CSR for an RSA key of bits bits with exponent 2^31-1 and a junk signature
// of the modulus' size: verifying it first would cost seconds of CPU.
func hugeRSACSR(t *testing.T, bits int) string {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), uint(bits-1)))
	if err != nil {
		t.Fatal(err)
	}
	n.SetBit(n, bits-1, 1)
	n.SetBit(n, 0, 1)
	spki, err := x509.MarshalPKIXPublicKey(&rsa.PublicKey{N: n, E: 1<<31 - 1})
	if err != nil {
		t.Fatal(err)
	}
	info, _ := asn1.Marshal(struct {
		Version                     int
		Subject, PublicKey, Attribs asn1.RawValue
	}{0, asn1.RawValue{FullBytes: []byte{0x30, 0}}, asn1.RawValue{FullBytes: spki}, asn1.RawValue{FullBytes: []byte{0xa0, 0}}})
	sig := make([]byte, (bits+7)/8)
	sig[0], sig[len(sig)-1] = 1, 1
	der, err := asn1.Marshal(struct {
		Info      asn1.RawValue
		Algorithm pkix.AlgorithmIdentifier
		Signature asn1.BitString
	}{asn1.RawValue{FullBytes: info}, pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}, Parameters: asn1.NullRawValue},
		asn1.BitString{Bytes: sig, BitLength: 8 * len(sig)}})
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

func redeemCode(t *testing.T, c *rotapi.Client, eggText, csr string) (int, string) {
	t.Helper()
	_, err := c.Redeem(ctx(t), &rotapi.RedeemRequest{Egg: eggText, CSR: csr})
	if err == nil {
		return http.StatusOK, ""
	}
	var se *rotapi.StatusError
	if !errors.As(err, &se) {
		t.Fatalf("redeem: %v", err)
	}
	return se.Code, se.Message
}

// Revocation fails closed: an Egg whose record is lost does not redeem (it used to, since only
// a record marked revoked stopped it).
func TestEggWithoutRecordIsRefused(t *testing.T) {
	r := rottest.Start(t)
	r.CreateWorkload(t, rotapi.Workload{Name: "payments"})
	info := r.MintEggInfo(t, "payments", rotapi.MintRequest{})
	c, csr := r.Client(t, nil), csrFor(t, p256(t), nil)
	if code, msg := redeemCode(t, c, info.Egg, csr); code != http.StatusOK {
		t.Fatalf("fresh egg: %d %s", code, msg)
	}
	if err := os.Remove(filepath.Join(r.StateDir, "eggs", info.ID+".json")); err != nil {
		t.Fatal(err)
	}
	if err := r.Server.Reload(ctx(t)); err != nil {
		t.Fatal(err)
	}
	code, msg := redeemCode(t, c, info.Egg, csr)
	if code != http.StatusForbidden || !strings.Contains(msg, "egg "+info.ID+" has no record at this ROT") {
		t.Errorf("egg with its record lost: got %d %q, want 403 naming the egg", code, msg)
	}
}

// An Egg minted for a workload that was deleted does not redeem for a new workload of the same
// name, even when its record says it is not revoked (a kubectl delete racing a mint, a record
// restored from an old backup). Eggs minted before incarnations existed still redeem.
func TestEggOfDeletedWorkloadDoesNotRedeemForItsSuccessor(t *testing.T) {
	r := rottest.Start(t)
	r.CreateWorkload(t, rotapi.Workload{Name: "payments"})
	old := r.MintEggInfo(t, "payments", rotapi.MintRequest{})
	if err := r.Admin.Do(ctx(t), http.MethodDelete, rotapi.Path(rotapi.PathWorkload, "payments"), nil, nil); err != nil {
		t.Fatal(err)
	}
	r.CreateWorkload(t, rotapi.Workload{Name: "payments"})
	// The revocation is lost.
	writeEggRecord(t, r.StateDir, store.Egg{ID: old.ID, Workload: old.Workload, Peer: old.Peer, NotAfter: old.NotAfter, Hostnames: old.Hostnames})
	// An Egg of the format before incarnations, for the workload of now, with a record.
	a := authority(t, r)
	legacy := sealEgg(t, &a.EggKeys, r, r.TrustDomain, egg.Claims{ID: "egg-legacy", Workload: "payments", Peer: "any", NotAfter: time.Now().Add(time.Hour)})
	writeEggRecord(t, r.StateDir, store.Egg{ID: "egg-legacy", Workload: "payments", Peer: "any"})
	if err := r.Server.Reload(ctx(t)); err != nil {
		t.Fatal(err)
	}
	c, csr := r.Client(t, nil), csrFor(t, p256(t), nil)
	code, msg := redeemCode(t, c, old.Egg, csr)
	if code != http.StatusForbidden || !strings.Contains(msg, "minted for an earlier workload \"payments\"") {
		t.Errorf("egg of the deleted workload: got %d %q, want 403 naming the earlier workload", code, msg)
	}
	if code, msg := redeemCode(t, c, r.MintEgg(t, "payments", rotapi.MintRequest{}), csr); code != http.StatusOK {
		t.Errorf("egg of the new workload: got %d %q", code, msg)
	}
	if code, msg := redeemCode(t, c, legacy, csr); code != http.StatusOK {
		t.Errorf("egg without an incarnation, with a record: got %d %q", code, msg)
	}
}

// blockingDelete is a real file store whose DeleteWorkload waits for release: the ROT holds its
// lock meanwhile, as during a slow API server write.
type blockingDelete struct {
	*store.File
	entered, release chan struct{}
}

func (s *blockingDelete) DeleteWorkload(ctx2 context.Context, name string) error {
	close(s.entered)
	<-s.release
	return s.File.DeleteWorkload(ctx2, name)
}

// waitBlocked waits until some goroutine is in fn waiting for a mutex.
func waitBlocked(t *testing.T, fn string) {
	t.Helper()
	buf := make([]byte, 1<<20)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
			if strings.Contains(g, fn) && strings.Contains(g, "sync.(*Mutex).Lock") {
				return
			}
		}
	}
	t.Fatalf("no goroutine waits for a lock in %s", fn)
}

// A mint that races a workload delete must not leave a live Egg for the deleted workload.
func TestMintRacingWorkloadDelete(t *testing.T) {
	f, err := store.OpenFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	bs := &blockingDelete{File: f, entered: make(chan struct{}), release: make(chan struct{})}
	r := rottest.Start(t, rottest.WithStore(bs))
	r.CreateWorkload(t, rotapi.Workload{Name: "payments"})
	deleted := make(chan error, 1)
	go func() {
		deleted <- r.Admin.Do(ctx(t), http.MethodDelete, rotapi.Path(rotapi.PathWorkload, "payments"), nil, nil)
	}()
	<-bs.entered // the delete holds the ROT's lock
	minted := make(chan error, 1)
	go func() {
		minted <- r.Admin.Do(ctx(t), http.MethodPost, rotapi.Path(rotapi.PathEggs, "payments"), rotapi.MintRequest{}, &rotapi.MintResponse{})
	}()
	waitBlocked(t, "(*Server).mintEgg")
	close(bs.release)
	if err := <-deleted; err != nil {
		t.Fatalf("delete: %v", err)
	}
	err = <-minted
	var se *rotapi.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusNotFound || !strings.Contains(se.Message, `workload "payments" does not exist`) {
		t.Errorf("mint racing the delete: got %v, want 404 naming the workload", err)
	}
	st, err := f.Load(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	for id, e := range st.Eggs {
		if e.Workload == "payments" && !e.Revoked {
			t.Errorf("egg %s of the deleted workload is live", id)
		}
	}
}

// A certificate never outlives the Egg it was redeemed with.
func TestCertNotAfterClampedToEgg(t *testing.T) {
	r := rottest.Start(t)
	r.CreateWorkload(t, rotapi.Workload{Name: "payments", CertTTL: "24h"})
	info := r.MintEggInfo(t, "payments", rotapi.MintRequest{TTL: "1h"})
	resp, err := r.Client(t, nil).Redeem(ctx(t), &rotapi.RedeemRequest{Egg: info.Egg, CSR: csrFor(t, p256(t), nil)})
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode([]byte(resp.Certificate))
	leaf, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !leaf.NotAfter.Equal(info.NotAfter) || !resp.NotAfter.Equal(info.NotAfter) {
		t.Errorf("certificate notAfter %s (answer %s), want the egg's %s", leaf.NotAfter, resp.NotAfter, info.NotAfter)
	}
}
