package kubestore_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seal-dev/seal/internal/custody"
	"github.com/seal-dev/seal/internal/kubestore"
	"github.com/seal-dev/seal/internal/rot/rottest"
	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/store"
	"github.com/seal-dev/seal/internal/testing/testenv"
	sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"
)

// testKEK is seal-rot serve --kube --kek-file: no Secret the ROT writes holds a key in clear,
// neither for a workload made through the admin API nor for one made with kubectl (the
// reconciler's path), the ROT redeems, and a store without the KEK refuses the state.
func testKEK(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	ns := env.Namespace(t, nil)
	kek := make([]byte, custody.KEKSize)
	if _, err := rand.Read(kek); err != nil {
		t.Fatal(err)
	}
	keys, err := custody.NewFile(kek, nil)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := kubestore.New(env.Config, ns, kubestore.Options{Resync: time.Second, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	r := rottest.Start(t, rottest.WithStore(ks), rottest.WithTrustDomain(td), rottest.WithKeys(keys))
	r.CreateWorkload(t, rotapi.Workload{Name: "api"})
	if err := env.Client.Create(ctx, &sealv1.Workload{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}); err != nil {
		t.Fatal(err)
	}
	var state *store.State
	testenv.Eventually(t, 30*time.Second, func() error {
		if state, err = ks.Load(ctx); err != nil {
			return err
		}
		if state.Workloads["shop"] == nil {
			return errors.New("workload shop not reconciled yet")
		}
		return nil
	})
	egg := r.MintEgg(t, "api", rotapi.MintRequest{})
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	csr := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
	if _, err := r.Client(t, nil).Redeem(ctx, &rotapi.RedeemRequest{Egg: egg, CSR: string(csr)}); err != nil {
		t.Fatalf("redeem with the KEK: %v", err)
	}

	var secrets corev1.SecretList
	if err := env.Client.List(ctx, &secrets, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	scanned := 0
	for _, sec := range secrets.Items {
		if sec.Name == kubestore.AdminSecret { // the admin's client credentials, not the ROT's keys
			continue
		}
		for k, v := range sec.Data {
			scanned++
			if found := custody.ScanClear(v); len(found) > 0 {
				t.Errorf("Secret %s key %s holds keys in clear: %v", sec.Name, k, found)
			}
			if sec.Name == kubestore.AuthoritySecret {
				var a store.Authority
				if err := json.Unmarshal(v, &a); err == nil {
					for kid, ek := range a.EggKeys.Keys {
						if custody.IsPlain(string(ek)) {
							t.Errorf("egg-sealing key %s in clear in Secret %s", kid, sec.Name)
						}
					}
				}
			}
		}
	}
	if scanned < 3 {
		t.Fatalf("scanned %d Secret keys, want the authority's and two workloads'", scanned)
	}
	if !strings.Contains(state.Workloads["shop"].DataKeys[0].Identity, "seal-kek:v1:") {
		t.Errorf("the reconciled workload's data key is not sealed: %.20q", state.Workloads["shop"].DataKeys[0].Identity)
	}

	plain := newStore(t, env, ns) // seal-rot --kube without --kek-file
	if _, err := plain.Load(ctx); err == nil || !strings.Contains(err.Error(), "--kek-file") {
		t.Errorf("Load without the KEK = %v, want an error naming --kek-file", err)
	}
}
