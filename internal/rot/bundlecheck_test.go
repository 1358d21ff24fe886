package rot_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/seal-dev/seal/internal/rot/rottest"
	"github.com/seal-dev/seal/internal/rotapi"
)

// TestImportRefusesAnotherTrustDomainsBundle: b's bundle imported under another trust domain
// name is refused, because b's ROT CA names b.seal.dev.
func TestImportRefusesAnotherTrustDomainsBundle(t *testing.T) {
	a := rottest.Start(t, rottest.WithTrustDomain("a.seal.dev"))
	b := rottest.Start(t, rottest.WithTrustDomain("b.seal.dev"))
	resp, err := b.Client(t, nil).HTTP.Get(b.URL + rotapi.PathBundle)
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	err = a.Admin.Do(ctx(t), http.MethodPost, rotapi.PathBundles, rotapi.FederatedBundle{TrustDomain: "c.seal.dev", Bundle: string(doc)}, nil)
	if statusOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), `belongs to trust domain "b.seal.dev"`) {
		t.Fatalf("importing b's bundle as c.seal.dev: %v; want 400 naming b.seal.dev", err)
	}
	if err := a.Admin.Do(ctx(t), http.MethodPost, rotapi.PathBundles, rotapi.FederatedBundle{TrustDomain: "b.seal.dev", Bundle: string(doc)}, nil); err != nil {
		t.Fatalf("importing b's bundle as b.seal.dev: %v", err)
	}
}
