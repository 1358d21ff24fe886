package sealtls_test

import (
	"testing"

	"github.com/seal-dev/seal/internal/podfiles"
	"github.com/seal-dev/seal/pkg/sealtls"
)

// TestLoadsWhatSealInitWrites writes the files with the writer seal-init uses (internal/podfiles)
// and checks that a Source follows its renewals, bundles appearing and disappearing included.
func TestLoadsWhatSealInitWrites(t *testing.T) {
	w := newWorld(t)
	payCA := certPEM(w.payCA.cert)
	dir := t.TempDir()
	pw := &podfiles.Writer{Dir: dir}
	write := func(p podFiles) {
		t.Helper()
		files := map[string][]byte{"tls.crt": p.chain, "tls.key": p.key, "ca.crt": p.ca, "keys.txt": []byte("# age keys\n")}
		for td, b := range p.bundles {
			files["bundles/"+td+".pem"] = b
		}
		if err := pw.Write(files); err != nil {
			t.Fatalf("podfiles.Write: %v", err)
		}
	}
	partner := map[string][]byte{partnerTD: certPEM(w.partnerRoot.cert)}
	gens := []podFiles{
		w.pod(t, w.payCA, wid(prodTD, "payments", "api"), payCA, nil),
		w.pod(t, w.payCA, wid(prodTD, "payments", "api"), payCA, partner),
		w.pod(t, w.payCA, wid(prodTD, "payments", "api"), payCA, nil),
	}
	write(gens[0])
	src := load(t, dir)
	billing := load(t, w.dir(t, w.pod(t, w.billCA, wid(partnerTD, "billing", "api"), certPEM(w.billCA.cert), map[string][]byte{prodTD: certPEM(w.prodRoot.cert)})))
	addr, _ := startServer(t, sealtls.ServerConfig(src, sealtls.AuthorizeWorkload(partnerTD, "billing")))
	for i, wantFederated := range []bool{false, true, false} {
		if i > 0 {
			write(gens[i])
		}
		leaf, err := dial(addr, sealtls.ClientConfig(billing, sealtls.AuthorizeWorkload(prodTD, "payments")))
		if wantFederated != (err == nil) {
			t.Fatalf("generation %d: federated client err = %v, want success %v", i, err, wantFederated)
		}
		if got := src.Certificate().Leaf.SerialNumber; got.Cmp(gens[i].leaf.SerialNumber) != 0 {
			t.Errorf("generation %d: serving serial %s, want %s", i, got, gens[i].leaf.SerialNumber)
		}
		if err == nil && leaf.SerialNumber.Cmp(gens[i].leaf.SerialNumber) != 0 {
			t.Errorf("generation %d: client saw serial %s, want %s", i, leaf.SerialNumber, gens[i].leaf.SerialNumber)
		}
	}
}
