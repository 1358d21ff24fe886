package servingcert

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"sync"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seal-dev/seal/internal/testing/testenv"
)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func newClock(t time.Time) *clock    { return &clock{t: t} }
func certs(pemBytes []byte) (out []*x509.Certificate) {
	for rest := pemBytes; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			return out
		}
		c, _ := x509.ParseCertificate(b.Bytes)
		out = append(out, c)
	}
}

func webhookConfigs(t *testing.T, ctx context.Context, c client.Client, name string) {
	t.Helper()
	none := admissionregistrationv1.SideEffectClassNone
	url := "https://127.0.0.1:1/x"
	mw := &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: name}, Webhooks: []admissionregistrationv1.MutatingWebhook{
		{Name: "a.seal.dev", ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: &url}, SideEffects: &none, AdmissionReviewVersions: []string{"v1"}},
		{Name: "b.seal.dev", ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: &url}, SideEffects: &none, AdmissionReviewVersions: []string{"v1"}},
	}}
	vw := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: name}, Webhooks: []admissionregistrationv1.ValidatingWebhook{
		{Name: "v.seal.dev", ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: &url}, SideEffects: &none, AdmissionReviewVersions: []string{"v1"}},
	}}
	for _, o := range []client.Object{mw, vw} {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
}

// bundles reads the caBundle of every webhook in the two configurations.
func bundles(t *testing.T, ctx context.Context, c client.Client, name string) [][]byte {
	t.Helper()
	var mw admissionregistrationv1.MutatingWebhookConfiguration
	var vw admissionregistrationv1.ValidatingWebhookConfiguration
	if err := c.Get(ctx, client.ObjectKey{Name: name}, &mw); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, client.ObjectKey{Name: name}, &vw); err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, w := range mw.Webhooks {
		out = append(out, w.ClientConfig.CABundle)
	}
	for _, w := range vw.Webhooks {
		out = append(out, w.ClientConfig.CABundle)
	}
	return out
}

func TestManagerOnRealAPIServer(t *testing.T) {
	env := testenv.Start(t, testenv.Options{NoControllerManager: true, NoCRDs: true})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	t.Run("two replicas agree on one CA and patch every caBundle", func(t *testing.T) {
		ns := env.Namespace(t, nil)
		webhookConfigs(t, ctx, env.Client, "seal-"+ns)
		var ms [4]*Manager
		var wg sync.WaitGroup
		errs := make([]error, len(ms))
		for i := range ms {
			ms[i] = &Manager{Client: env.Client, Namespace: ns, DNSNames: []string{"seal-webhook." + ns + ".svc"},
				MutatingConfigs: []string{"seal-" + ns}, ValidatingConfigs: []string{"seal-" + ns}}
			wg.Add(1)
			go func() { defer wg.Done(); errs[i] = ms[i].Sync(ctx) }()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("replica %d: %v", i, err)
			}
		}
		var sec corev1.Secret
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "seal-webhook-ca"}, &sec); err != nil {
			t.Fatalf("CA Secret: %v", err)
		}
		for i, m := range ms {
			if !bytes.Equal(m.CABundle(), sec.Data[KeyCACert]) {
				t.Errorf("replica %d uses another CA than the Secret's", i)
			}
			leaf, _ := m.GetCertificate(nil)
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(sec.Data[KeyCACert])
			if _, err := leaf.Leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "seal-webhook." + ns + ".svc"}); err != nil {
				t.Errorf("replica %d leaf: %v", i, err)
			}
		}
		for i, b := range bundles(t, ctx, env.Client, "seal-"+ns) {
			if !bytes.Equal(b, sec.Data[KeyCACert]) {
				t.Errorf("webhook %d caBundle = %q, want the Secret's CA", i, b)
			}
		}
	})

	t.Run("CA rotates with overlap", func(t *testing.T) {
		ns := env.Namespace(t, nil)
		webhookConfigs(t, ctx, env.Client, "seal-"+ns)
		clk := newClock(time.Now())
		m := &Manager{Client: env.Client, Namespace: ns, DNSNames: []string{"w"}, MutatingConfigs: []string{"seal-" + ns},
			ValidatingConfigs: []string{"seal-" + ns}, Now: clk.Now,
			CAValidity: 30 * 24 * time.Hour, CARotateBefore: 10 * 24 * time.Hour, LeafValidity: 24 * time.Hour}
		if err := m.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		first := certs(m.CABundle())[0]
		oldLeaf, _ := m.GetCertificate(nil)

		clk.Add(21 * 24 * time.Hour) // 9 days left: rotate
		if err := m.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		got := certs(m.CABundle())
		if len(got) != 2 || got[1].Equal(first) == false || got[0].Equal(first) {
			t.Fatalf("bundle after rotation has %d CAs, want [new, old]", len(got))
		}
		for i, b := range bundles(t, ctx, env.Client, "seal-"+ns) {
			if len(certs(b)) != 2 {
				t.Errorf("webhook %d caBundle has %d CAs during the overlap, want 2", i, len(certs(b)))
			}
		}
		leaf, _ := m.GetCertificate(nil)
		if leaf == oldLeaf {
			t.Error("leaf past its renewal time was not renewed")
		}
		if leaf.Leaf.CheckSignatureFrom(got[0]) != nil {
			t.Error("renewed leaf is not signed by the new CA")
		}

		clk.Add(10 * 24 * time.Hour) // the old CA has expired
		if err := m.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		if got := certs(m.CABundle()); len(got) != 1 || got[0].Equal(first) {
			t.Errorf("bundle after the old CA expired has %d CAs, want only the new one", len(got))
		}
	})

	t.Run("missing configurations are skipped", func(t *testing.T) {
		ns := env.Namespace(t, nil)
		m := &Manager{Client: env.Client, Namespace: ns, DNSNames: []string{"w"}, MutatingConfigs: []string{"absent-" + ns}}
		if err := m.Sync(ctx); err != nil {
			t.Errorf("Sync with an absent configuration: %v", err)
		}
	})
}
