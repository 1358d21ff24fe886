package kubestore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seal-dev/seal/internal/ca"
	"github.com/seal-dev/seal/internal/kubestore"
	"github.com/seal-dev/seal/internal/store"
	"github.com/seal-dev/seal/internal/testing/testenv"
	sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"
)

func testReconcile(t *testing.T, env *testenv.Env) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns := env.Namespace(t, nil)
	st := newStore(t, env, ns)
	a, root := authority(t)
	if err := st.PutAuthority(ctx, a); err != nil {
		t.Fatal(err)
	}
	changed := st.Changed(ctx)

	good := &sealv1.Workload{ObjectMeta: metav1.ObjectMeta{Name: "shop"}, Spec: sealv1.WorkloadSpec{Peers: []string{"web"}, CertTTL: &metav1.Duration{Duration: time.Hour}}}
	bad := &sealv1.Workload{ObjectMeta: metav1.ObjectMeta{Name: "bad"}, Spec: sealv1.WorkloadSpec{CertTTL: &metav1.Duration{Duration: time.Second}}}
	for _, w := range []*sealv1.Workload{good, bad} {
		if err := env.Client.Create(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	var state *store.State
	testenv.Eventually(t, 30*time.Second, func() error {
		select {
		case <-changed:
		case <-time.After(time.Second):
		}
		var err error
		if state, err = st.Load(ctx); err != nil {
			return err
		}
		if state.Workloads["shop"] == nil {
			return errors.New("workload shop not in the loaded state")
		}
		return nil
	})
	rec := state.Workloads["shop"]
	if rec.Spec.CertTTL != "1h0m0s" || strings.Join(rec.Spec.Peers, ",") != "web" || len(rec.DataKeys) != 1 || !strings.HasPrefix(rec.DataKeys[0].Identity, "AGE-SECRET-KEY-1") {
		t.Errorf("reconciled workload = %+v", rec)
	}
	wca, err := ca.Parse([]byte(rec.CAs[0].Cert), []byte(rec.CAs[0].Key))
	if err != nil {
		t.Fatal(err)
	}
	if err := wca.Cert.CheckSignatureFrom(root.Cert); err != nil {
		t.Errorf("the Workload CA is not signed by the ROT CA: %v", err)
	}
	if state.Workloads["bad"] != nil {
		t.Error("a Workload with an invalid spec got a CA")
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		var cr sealv1.Workload
		if err := env.Client.Get(ctx, client.ObjectKey{Name: "shop"}, &cr); err != nil {
			return err
		}
		if c := meta.FindStatusCondition(cr.Status.Conditions, sealv1.ConditionReady); c == nil || c.Status != metav1.ConditionTrue || cr.Status.CAFingerprint != wca.Fingerprint() {
			return fmt.Errorf("shop status = %+v, want Ready with fingerprint %s", cr.Status, wca.Fingerprint())
		}
		if err := env.Client.Get(ctx, client.ObjectKey{Name: "bad"}, &cr); err != nil {
			return err
		}
		if c := meta.FindStatusCondition(cr.Status.Conditions, sealv1.ConditionReady); c == nil || c.Status != metav1.ConditionFalse || c.Reason != "InvalidSpec" || !strings.Contains(c.Message, "certTTL") {
			return fmt.Errorf("bad status = %+v, want Ready False InvalidSpec naming certTTL", cr.Status)
		}
		return nil
	})

	// Reconciled resources are left alone: no status rewritten on every resync.
	var cr sealv1.Workload
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "shop"}, &cr); err != nil {
		t.Fatal(err)
	}
	var f sealv1.Workload
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "bad"}, &f); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second) // three resyncs
	for _, w := range []*sealv1.Workload{&cr, &f} {
		var now sealv1.Workload
		if err := env.Client.Get(ctx, client.ObjectKey{Name: w.Name}, &now); err != nil {
			t.Fatal(err)
		}
		if now.ResourceVersion != w.ResourceVersion {
			t.Errorf("Workload %s was rewritten without a change (resourceVersion %s -> %s)", w.Name, w.ResourceVersion, now.ResourceVersion)
		}
	}

	// kubectl edit: the spec follows; an invalid edit keeps the last accepted spec.
	cr.Spec.Peers = []string{"web", "worker"}
	if err := env.Client.Update(ctx, &cr); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		s, err := st.Load(ctx)
		if err != nil {
			return err
		}
		if got := strings.Join(s.Workloads["shop"].Spec.Peers, ","); got != "web,worker" {
			return fmt.Errorf("peers %s after kubectl edit, want web,worker", got)
		}
		return nil
	})

	// The Secret with the CA and data keys is lost (deleted by hand): the store must not make
	// new keys behind the user's back; it says so, and a restore from backup brings it back.
	var saved corev1.Secret
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: kubestore.WorkloadPrefix + "shop"}, &saved); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Delete(ctx, saved.DeepCopy()); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, func() error {
		var now sealv1.Workload
		if err := env.Client.Get(ctx, client.ObjectKey{Name: "shop"}, &now); err != nil {
			return err
		}
		if c := meta.FindStatusCondition(now.Status.Conditions, sealv1.ConditionReady); c == nil || c.Reason != "SecretLost" || !strings.Contains(c.Message, "restore it from backup") {
			return fmt.Errorf("after the Secret was deleted: status %+v, want Ready False SecretLost", now.Status)
		}
		return nil
	})
	time.Sleep(2 * time.Second) // resyncs: nothing may re-create the Secret with new keys
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: kubestore.WorkloadPrefix + "shop"}, &corev1.Secret{}); err == nil {
		t.Fatal("the store made a new Workload Secret (new CA and data keys) after the old one was lost")
	}
	restored := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: saved.Name, Labels: saved.Labels}, Type: saved.Type, Data: saved.Data}
	if err := env.Client.Create(ctx, restored); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, func() error {
		var now sealv1.Workload
		if err := env.Client.Get(ctx, client.ObjectKey{Name: "shop"}, &now); err != nil {
			return err
		}
		if c := meta.FindStatusCondition(now.Status.Conditions, sealv1.ConditionReady); c == nil || c.Status != metav1.ConditionTrue || now.Status.CAFingerprint != wca.Fingerprint() {
			return fmt.Errorf("after the restore: status %+v, want Ready with the old CA %s", now.Status, wca.Fingerprint())
		}
		return nil
	})
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "shop"}, &cr); err != nil {
		t.Fatal(err)
	}

	// kubectl delete: its Eggs are revoked, its Secret goes, then the resource.
	if err := st.PutEgg(ctx, &store.Egg{ID: "egg-shop", Workload: "shop", Peer: "web"}); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Delete(ctx, &cr); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, func() error {
		err := env.Client.Get(ctx, client.ObjectKey{Name: "shop"}, &sealv1.Workload{})
		if err == nil {
			return errors.New("Workload shop still exists")
		}
		s, err := st.Load(ctx)
		if err != nil {
			return err
		}
		if s.Workloads["shop"] != nil || !s.Eggs["egg-shop"].Revoked {
			return fmt.Errorf("after kubectl delete: workload %v, egg %+v; want gone and revoked", s.Workloads["shop"] != nil, s.Eggs["egg-shop"])
		}
		return nil
	})
	var sec corev1.Secret
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: kubestore.WorkloadPrefix + "shop"}, &sec); err == nil {
		t.Error("the Secret of a deleted Workload is still there")
	}
}

func testFederation(t *testing.T, env *testenv.Env) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns := env.Namespace(t, nil)
	st := newStore(t, env, ns)
	a, _ := authority(t)
	if err := st.PutAuthority(ctx, a); err != nil {
		t.Fatal(err)
	}
	st.Changed(ctx)
	initial := bundleDoc(t, "partner.example", 4)
	f := &sealv1.FederatedTrustDomain{
		ObjectMeta: metav1.ObjectMeta{Name: "partner"},
		Spec: sealv1.FederatedTrustDomainSpec{TrustDomain: "partner.example", BundleEndpointURL: "https://127.0.0.1:1/v1/bundle",
			BundleEndpointProfile: &sealv1.BundleEndpointProfile{Type: "https_spiffe", EndpointSPIFFEID: "spiffe://partner.example/seal/rot"},
			TrustDomainBundle:     initial},
	}
	nobundle := &sealv1.FederatedTrustDomain{ObjectMeta: metav1.ObjectMeta{Name: "empty"}, Spec: sealv1.FederatedTrustDomainSpec{TrustDomain: "empty.example"}}
	wrong := &sealv1.FederatedTrustDomain{ObjectMeta: metav1.ObjectMeta{Name: "wrong"},
		Spec: sealv1.FederatedTrustDomainSpec{TrustDomain: "wrong.example", TrustDomainBundle: bundleDoc(t, "partner.example", 1)}}
	for _, o := range []client.Object{f, nobundle, wrong} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	s, err := st.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b := s.Bundles["partner.example"]
	if b == nil || b.Bundle != initial || b.SequenceNumber != 4 || b.EndpointProfile != "https_spiffe" || b.EndpointSPIFFEID != "spiffe://partner.example/seal/rot" {
		t.Fatalf("loaded bundle = %+v, want the initial one with its endpoint", b)
	}
	if s.Bundles["empty.example"] != nil || s.Bundles["wrong.example"] != nil {
		t.Error("a trust domain without a bundle, or with another domain's bundle, was loaded")
	}
	waitReady := func(name string, want metav1.ConditionStatus, reason string) sealv1.FederatedTrustDomainStatus {
		t.Helper()
		var got sealv1.FederatedTrustDomain
		testenv.Eventually(t, 10*time.Second, func() error {
			if err := env.Client.Get(ctx, client.ObjectKey{Name: name}, &got); err != nil {
				return err
			}
			if c := meta.FindStatusCondition(got.Status.Conditions, sealv1.ConditionReady); c == nil || c.Status != want || c.Reason != reason {
				return fmt.Errorf("%s status = %+v, want Ready %s %s", name, got.Status, want, reason)
			}
			return nil
		})
		return got.Status
	}
	if st := waitReady("partner", metav1.ConditionTrue, "BundleLoaded"); st.SequenceNumber == nil || *st.SequenceNumber != 4 {
		t.Errorf("status sequence = %v, want 4", st.SequenceNumber)
	}
	waitReady("empty", metav1.ConditionFalse, "NoBundle")
	if st := waitReady("wrong", metav1.ConditionFalse, "NoBundle"); !strings.Contains(st.Conditions[0].Message, "a bundle of another trust domain") {
		t.Errorf("wrong bundle status = %+v, want it to name the other trust domain", st)
	}

	// A refresh: the new bundle is kept and shown; a failed one keeps it and says why.
	now := time.Now().UTC()
	fresh := *b
	fresh.Bundle, fresh.SequenceNumber, fresh.LastRefreshed = bundleDoc(t, "partner.example", 5), 5, &now
	if err := st.PutBundle(ctx, &fresh); err != nil {
		t.Fatal(err)
	}
	failed := fresh
	failed.LastError = "connection refused"
	if err := st.PutBundle(ctx, &failed); err != nil {
		t.Fatal(err)
	}
	s, err = st.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Bundles["partner.example"]; got.Bundle != fresh.Bundle || got.SequenceNumber != 5 || got.LastError != "connection refused" {
		t.Errorf("after refreshes: %+v, want the refreshed bundle and the last error", got)
	}
	stat := waitReady("partner", metav1.ConditionFalse, "RefreshFailed")
	if stat.LastError != "connection refused" || *stat.SequenceNumber != 5 || stat.LastRefreshed == nil {
		t.Errorf("status = %+v", stat)
	}

	// A user replacing spec.trustDomainBundle starts over from it.
	var cur sealv1.FederatedTrustDomain
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "partner"}, &cur); err != nil {
		t.Fatal(err)
	}
	replaced := bundleDoc(t, "partner.example", 9)
	cur.Spec.TrustDomainBundle = replaced
	if err := env.Client.Update(ctx, &cur); err != nil {
		t.Fatal(err)
	}
	if s, err = st.Load(ctx); err != nil || s.Bundles["partner.example"].Bundle != replaced {
		t.Errorf("after replacing spec.trustDomainBundle: %v; want the new spec bundle", err)
	}
	if err := env.Client.Delete(ctx, &cur); err != nil {
		t.Fatal(err)
	}
	if s, err = st.Load(ctx); err != nil || s.Bundles["partner.example"] != nil {
		t.Errorf("after kubectl delete: %v; want the trust domain gone", err)
	}
}
