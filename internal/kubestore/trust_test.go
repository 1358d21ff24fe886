package kubestore_test

import (
	"context"
	"encoding/json"
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

// testPlantedCA: whoever can create or replace a Secret in the ROT's namespace must not be
// able to give a Workload a CA whose key they hold. Such a Secret is never loaded (its pods get
// no certificates) and its Workload reports Ready=False, CAUntrusted; the other workloads are
// served as before.
func testPlantedCA(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	ns := env.Namespace(t, nil)
	st := newStore(t, env, ns)
	a, root := authority(t)
	if err := st.PutAuthority(ctx, a); err != nil {
		t.Fatal(err)
	}
	good := workloadRec(t, root, "good", store.WorkloadSpec{})
	if err := st.PutWorkload(ctx, good); err != nil {
		t.Fatal(err)
	}
	own, err := ca.NewRoot(td, 0, ca.Options{}) // the planter's own "ROT CA"
	if err != nil {
		t.Fatal(err)
	}
	plant := func(name string, rec any) {
		t.Helper()
		b, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: kubestore.WorkloadPrefix + name}, Data: map[string][]byte{"workload.json": b}}
		if err := env.Client.Create(ctx, sec); err != nil {
			t.Fatalf("planting %s: %v", sec.Name, err)
		}
		if err := env.Client.Create(ctx, &sealv1.Workload{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
			t.Fatal(err)
		}
	}
	// A CA the planter made, for a Workload created with kubectl before seal-rot adopted it.
	plant("selfmade", workloadRec(t, own, "selfmade", store.WorkloadSpec{}))
	// Only an expired CA, though the ROT signed it: it would pass every per-CA check, and a
	// state holding a workload with nothing to sign with cannot serve at all.
	old, err := root.NewIntermediate(td, "expired", time.Hour, ca.Options{Now: func() time.Time { return time.Now().Add(-48 * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	oldKey, _ := old.KeyPEM()
	expired := workloadRec(t, root, "expired", store.WorkloadSpec{})
	expired.CAs = []store.KeyPair{{Cert: string(old.CertPEM()), Key: string(oldKey)}}
	plant("expired", expired)
	// A CA the ROT really signed, but for another workload (copied from its Secret).
	other := workloadRec(t, root, "other", store.WorkloadSpec{})
	other.Spec.Name = "copied"
	plant("copied", other)
	// A Workload that had its CA: its Secret replaced by one holding another ROT-signed CA for
	// the same name (say, an old incarnation's) does not hold the CA its status records.
	if err := env.Client.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: kubestore.WorkloadPrefix + "good"}}); err != nil {
		t.Fatal(err)
	}
	replaced := workloadRec(t, root, "good", store.WorkloadSpec{})
	b, _ := json.Marshal(replaced)
	if err := env.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: kubestore.WorkloadPrefix + "good"}, Data: map[string][]byte{"workload.json": b}}); err != nil {
		t.Fatal(err)
	}
	fine := workloadRec(t, root, "fine", store.WorkloadSpec{})
	if err := st.PutWorkload(ctx, fine); err != nil {
		t.Fatal(err)
	}

	if _, err := st.Reconcile(ctx); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	state, err := st.Load(ctx)
	if err != nil {
		t.Fatalf("Load with planted Secrets: %v; want the trusted workloads loaded", err)
	}
	if state.Workloads["fine"] == nil {
		t.Error("workload fine (its own CA) not loaded beside the planted Secrets")
	}
	want := map[string]string{
		"selfmade": "not signed by any ROT CA",
		"copied":   `is not the Workload CA of "copied"`,
		"good":     "status.caFingerprint",
		"expired":  "holds no unexpired Workload CA",
	}
	for name, msg := range want {
		if w := state.Workloads[name]; w != nil {
			t.Errorf("workload %s loaded with CA %.60q...; want it refused", name, w.CAs[0].Cert)
		}
		var cr sealv1.Workload
		if err := env.Client.Get(ctx, client.ObjectKey{Name: name}, &cr); err != nil {
			t.Fatal(err)
		}
		c := meta.FindStatusCondition(cr.Status.Conditions, sealv1.ConditionReady)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != "CAUntrusted" || !strings.Contains(c.Message, msg) || !strings.Contains(c.Message, "fix:") {
			t.Errorf("Workload %s Ready = %s, want False, CAUntrusted, a message containing %q and a fix", name, fmtCond(c), msg)
		}
		if name == "good" && cr.Status.CAFingerprint != mustFingerprint(t, good) {
			t.Errorf("Workload good status.caFingerprint = %s, want the ROT's CA %s kept", cr.Status.CAFingerprint, mustFingerprint(t, good))
		}
		if name == "selfmade" && cr.Status.CAFingerprint != "" {
			t.Errorf("Workload selfmade status.caFingerprint = %s, want none (the planted CA is not recorded)", cr.Status.CAFingerprint)
		}
	}
	// Restoring the Secret seal-rot wrote brings the workload back.
	if err := env.Client.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: kubestore.WorkloadPrefix + "good"}}); err != nil {
		t.Fatal(err)
	}
	b, _ = json.Marshal(good)
	if err := env.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: kubestore.WorkloadPrefix + "good"}, Data: map[string][]byte{"workload.json": b}}); err != nil {
		t.Fatal(err)
	}
	if state, err = st.Load(ctx); err != nil || state.Workloads["good"] == nil {
		t.Errorf("after restoring the Secret: workload good loaded = %v, err %v; want loaded", state != nil && state.Workloads["good"] != nil, err)
	}
}

func fmtCond(c *metav1.Condition) string {
	if c == nil {
		return "<none>"
	}
	return fmt.Sprintf("%s %s %q", c.Status, c.Reason, c.Message)
}

func mustFingerprint(t *testing.T, rec *store.Workload) string {
	t.Helper()
	certs, err := ca.ParseCerts([]byte(rec.CAs[0].Cert))
	if err != nil {
		t.Fatal(err)
	}
	return ca.Fingerprint(certs[0])
}
