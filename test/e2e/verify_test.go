package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	admissionregv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/seal-dev/seal/internal/imageadmission"
	"github.com/seal-dev/seal/internal/testing/testenv"
	"github.com/seal-dev/seal/internal/verify"
	"github.com/seal-dev/seal/internal/verify/verifytest"
	sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"
)

// TestImagePolicyAdmission registers Seal's pin and verify handlers with a real API server and
// shows `kubectl apply` of a Deployment with an unapproved image refused with Seal's message,
// while a signed image is admitted and pinned to its digest.
func TestImagePolicyAdmission(t *testing.T) {
	env := testenv.Start(t, testenv.Options{NoControllerManager: true})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	reg := verifytest.NewRegistry(t)
	key := verifytest.NewKey(t)
	signed := reg.Push(t, "team/app", "v1")
	key.SignBundle(t, signed)
	unsigned := reg.Push(t, "team/app", "v2")
	policy := &sealv1.ImagePolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "team"},
		Spec: sealv1.ImagePolicySpec{
			Images:      []sealv1.ImagePattern{{Glob: reg.Host + "/team/**"}},
			Authorities: []sealv1.Authority{{Name: "release-key", Key: &sealv1.KeyRef{Data: key.PublicPEM}}},
			Mode:        sealv1.ModeEnforce,
		},
	}
	if err := env.Client.Create(ctx, policy); err != nil {
		t.Fatalf("creating ImagePolicy: %v", err)
	}

	v, err := verify.New(verify.Options{Policies: verify.ClusterSource{Client: env.Client}, Keys: verify.ClusterSource{Client: env.Client}})
	if err != nil {
		t.Fatal(err)
	}
	pin, verifyH := imageadmission.New(env.Client, v, imageadmission.Options{SealNamespace: "seal-system"})
	mux := http.NewServeMux()
	mux.Handle("/pin", &webhook.Admission{Handler: pin})
	mux.Handle("/verify", &webhook.Admission{Handler: verifyH})
	srv, caPEM := serveTLS(t, mux)

	failPolicy, none := admissionregv1.Fail, admissionregv1.SideEffectClassNone
	timeout := int32(25)
	rules := []admissionregv1.RuleWithOperations{{
		Operations: []admissionregv1.OperationType{admissionregv1.Create, admissionregv1.Update},
		Rule:       admissionregv1.Rule{APIGroups: []string{"apps"}, APIVersions: []string{"v1"}, Resources: []string{"deployments"}},
	}}
	nsSel := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
		Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"kube-system", "seal-system"}}}}
	url := func(p string) *string { s := srv + p; return &s }
	mwc := &admissionregv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "seal-image-pin"},
		Webhooks: []admissionregv1.MutatingWebhook{{
			Name: "pin.seal.dev", ClientConfig: admissionregv1.WebhookClientConfig{URL: url("/pin"), CABundle: caPEM},
			Rules: rules, NamespaceSelector: nsSel, FailurePolicy: &failPolicy, SideEffects: &none,
			TimeoutSeconds: &timeout, AdmissionReviewVersions: []string{"v1"},
		}},
	}
	vwc := &admissionregv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "seal-image-verify"},
		Webhooks: []admissionregv1.ValidatingWebhook{{
			Name: "verify.seal.dev", ClientConfig: admissionregv1.WebhookClientConfig{URL: url("/verify"), CABundle: caPEM},
			Rules: rules, NamespaceSelector: nsSel, FailurePolicy: &failPolicy, SideEffects: &none,
			TimeoutSeconds: &timeout, AdmissionReviewVersions: []string{"v1"},
		}},
	}
	for _, o := range []client.Object{mwc, vwc} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatalf("registering %T: %v", o, err)
		}
	}

	enforced := env.Namespace(t, map[string]string{sealv1.LabelEnforce: "true"})
	open := env.Namespace(t, nil)

	// The API server picks up new webhook configurations asynchronously: wait until it refuses.
	var refusal error
	testenv.Eventually(t, 30*time.Second, func() error {
		d := policyDeployment(enforced, "", unsigned.Context().Tag("v2").String())
		refusal = env.Client.Create(ctx, d)
		if refusal == nil {
			_ = env.Client.Delete(ctx, d)
			return errors.New("Deployment with an unsigned image was admitted")
		}
		if !strings.Contains(refusal.Error(), "seal image policy") {
			return fmt.Errorf("refused, but not by Seal: %v", refusal)
		}
		return nil
	})
	for _, want := range []string{`denied the request`, `container "app"`, unsigned.Context().Tag("v2").String(), "no signature found"} {
		if !strings.Contains(refusal.Error(), want) {
			t.Errorf("refusal %q does not contain %q", refusal.Error(), want)
		}
	}

	// A tag the pin webhook cannot resolve is refused, though the registry answers verify a
	// moment later: an admitted pod never names a bare tag where a policy enforces.
	reg.FailFirstHEAD("team/app", "v1", http.StatusNotImplemented)
	err = env.Client.Create(ctx, policyDeployment(enforced, "signed", signed.Context().Tag("v1").String()))
	if err == nil || !strings.Contains(err.Error(), "cannot be pinned") || !strings.Contains(err.Error(), "ImagePolicy team enforces") {
		t.Fatalf("Deployment whose tag could not be pinned: err = %v, want a refusal by the pin webhook", err)
	}

	d := policyDeployment(enforced, "signed", signed.Context().Tag("v1").String())
	if err := env.Client.Create(ctx, d); err != nil {
		t.Fatalf("Deployment with a signed image refused: %v", err)
	}
	var got appsv1.Deployment
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(d), &got); err != nil {
		t.Fatal(err)
	}
	wantImage := signed.Context().Tag("v1").String() + "@" + signed.DigestStr()
	if img := got.Spec.Template.Spec.Containers[0].Image; img != wantImage {
		t.Errorf("stored image = %q, want it pinned to %q", img, wantImage)
	}

	// An ApprovedImage admits one exact unsigned digest.
	vendor := reg.Push(t, "team/vendor", "3.2")
	approved := &sealv1.ApprovedImage{ObjectMeta: metav1.ObjectMeta{Name: "vendor-3-2"}, Spec: sealv1.ApprovedImageSpec{Image: vendor.String()}}
	if err := env.Client.Create(ctx, approved); err != nil {
		t.Fatalf("creating ApprovedImage: %v", err)
	}
	if err := env.Client.Create(ctx, policyDeployment(enforced, "vendor", vendor.Context().Tag("3.2").String())); err != nil {
		t.Errorf("Deployment with an approved image refused: %v", err)
	}

	// Namespaces that do not enforce are left alone.
	if err := env.Client.Create(ctx, policyDeployment(open, "free", unsigned.String())); err != nil {
		t.Errorf("Deployment in a namespace without seal.dev/enforce refused: %v", err)
	}

	// Policies are ANDed: a security team's policy over every image of the registry, with its
	// own key, refuses the image only the team signed.
	security := &sealv1.ImagePolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "security"},
		Spec: sealv1.ImagePolicySpec{
			Images:      []sealv1.ImagePattern{{Glob: reg.Host + "/**"}},
			Authorities: []sealv1.Authority{{Name: "security-key", Key: &sealv1.KeyRef{Data: verifytest.NewKey(t).PublicPEM}}},
		},
	}
	if err := env.Client.Create(ctx, security); err != nil {
		t.Fatalf("creating the second ImagePolicy: %v", err)
	}
	err = env.Client.Create(ctx, policyDeployment(enforced, "signed-by-team-only", signed.Context().Tag("v1").String()))
	if err == nil || !strings.Contains(err.Error(), "ImagePolicy security") || !strings.Contains(err.Error(), "team did") {
		t.Errorf("image signed for one of two matching policies: err = %v, want a refusal naming ImagePolicy security", err)
	}
}

func policyDeployment(ns, name, image string) *appsv1.Deployment {
	labels := map[string]string{"app": "policy"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}},
			},
		},
	}
	if name == "" {
		d.GenerateName = "unsigned-"
	}
	return d
}

// serveTLS serves h over HTTPS on 127.0.0.1 with a fresh CA; it returns the URL and CA PEM.
func serveTLS(t *testing.T, h http.Handler) (string, []byte) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "e2e webhook CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	srv.Config.ReadHeaderTimeout = 10 * time.Second
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
}
