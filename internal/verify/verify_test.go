package verify_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/seal-dev/seal/internal/verify"
	"github.com/seal-dev/seal/internal/verify/verifytest"
	sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"
)

const (
	issuer = "https://issuer.test"
	sub    = "ci@team.test"
)

func keyPolicy(name, glob, pem string, mode sealv1.PolicyMode) sealv1.ImagePolicy {
	return sealv1.ImagePolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(name + "-uid"), Generation: 1},
		Spec: sealv1.ImagePolicySpec{
			Images:      []sealv1.ImagePattern{{Glob: glob}},
			Authorities: []sealv1.Authority{{Name: "release-key", Key: &sealv1.KeyRef{Data: pem}}},
			Mode:        mode,
		},
	}
}

func keylessPolicy(name, glob, caPEM string, id sealv1.Identity) sealv1.ImagePolicy {
	return sealv1.ImagePolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(name + "-uid"), Generation: 1},
		Spec: sealv1.ImagePolicySpec{
			Images: []sealv1.ImagePattern{{Glob: glob}},
			Authorities: []sealv1.Authority{{Name: "ci", Keyless: &sealv1.Keyless{
				Identities:  []sealv1.Identity{id},
				TrustedRoot: &sealv1.TrustedRoot{CertificateAuthorities: caPEM},
			}}},
		},
	}
}

func newVerifier(t testing.TB, src *verify.StaticPolicies, mod ...func(*verify.Options)) *verify.Verifier {
	t.Helper()
	o := verify.Options{Policies: src, RegistryTimeout: 5 * time.Second}
	for _, m := range mod {
		m(&o)
	}
	v, err := verify.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSignedImages(t *testing.T) {
	reg := verifytest.NewRegistry(t)
	key := verifytest.NewKey(t)
	other := verifytest.NewKey(t)
	ca := verifytest.NewCA(t)
	otherCA := verifytest.NewCA(t)
	glob := reg.Host + "/team/**"

	img := func(n string) name.Digest { return reg.Push(t, "team/"+n, "v1") }
	tests := []struct {
		name       string
		sign       func(d name.Digest)
		policy     sealv1.ImagePolicy
		byTag      bool
		wantAllow  bool
		wantWarn   bool
		wantReason verify.Reason
		wantMsg    string
	}{
		{name: "key legacy", sign: func(d name.Digest) { key.SignLegacy(t, d) },
			policy: keyPolicy("p", glob, key.PublicPEM, ""), wantAllow: true, wantReason: verify.ReasonApproved},
		{name: "key bundle", sign: func(d name.Digest) { key.SignBundle(t, d) },
			policy: keyPolicy("p", glob, key.PublicPEM, ""), wantAllow: true, wantReason: verify.ReasonApproved},
		{name: "key legacy by tag", sign: func(d name.Digest) { key.SignLegacy(t, d) }, byTag: true,
			policy: keyPolicy("p", glob, key.PublicPEM, ""), wantAllow: true, wantReason: verify.ReasonApproved},
		{name: "keyless legacy", sign: func(d name.Digest) { ca.Keyless(t, issuer, sub).SignLegacy(t, d) },
			policy: keylessPolicy("p", glob, ca.PEM, sealv1.Identity{Issuer: issuer, Subject: sub}), wantAllow: true, wantReason: verify.ReasonApproved},
		{name: "keyless bundle", sign: func(d name.Digest) { ca.Keyless(t, issuer, sub).SignBundle(t, d) },
			policy: keylessPolicy("p", glob, ca.PEM, sealv1.Identity{Issuer: issuer, Subject: sub}), wantAllow: true, wantReason: verify.ReasonApproved},
		{name: "keyless bundle subject regexp", sign: func(d name.Digest) { ca.Keyless(t, issuer, "https://ci.test/team/app").SignBundle(t, d) },
			policy: keylessPolicy("p", glob, ca.PEM, sealv1.Identity{IssuerRegExp: `^https://issuer\.test$`, SubjectRegExp: `https://ci\.test/team/.*`}), wantAllow: true, wantReason: verify.ReasonApproved},
		// Identity regexps match the whole subject: an attacker's identity that merely contains
		// the pattern is not the team's (issue 13 item 7).
		{name: "keyless subject regexp is anchored", sign: func(d name.Digest) {
			ca.Keyless(t, issuer, "https://evil.test/x/https://ci.test/team/app").SignBundle(t, d)
		},
			policy: keylessPolicy("p", glob, ca.PEM, sealv1.Identity{Issuer: issuer, SubjectRegExp: `https://ci\.test/team/`}), wantReason: verify.ReasonUntrusted},
		{name: "keyless legacy subject regexp is anchored", sign: func(d name.Digest) { ca.Keyless(t, issuer, "https://ci.test/team/app/../../evil").SignLegacy(t, d) },
			policy: keylessPolicy("p", glob, ca.PEM, sealv1.Identity{Issuer: issuer, SubjectRegExp: `https://ci\.test/team/`}), wantReason: verify.ReasonUntrusted},
		{name: "keyless issuer regexp is anchored", sign: func(d name.Digest) { ca.Keyless(t, "https://issuer.test.evil.test", sub).SignLegacy(t, d) },
			policy: keylessPolicy("p", glob, ca.PEM, sealv1.Identity{IssuerRegExp: `https://issuer\.test`, Subject: sub}), wantReason: verify.ReasonUntrusted},
		{name: "unsigned", sign: func(name.Digest) {},
			policy: keyPolicy("p", glob, key.PublicPEM, ""), wantReason: verify.ReasonNoSignature, wantMsg: "no signature found"},
		{name: "legacy by unknown key", sign: func(d name.Digest) { other.SignLegacy(t, d) },
			policy: keyPolicy("p", glob, key.PublicPEM, ""), wantReason: verify.ReasonUntrusted, wantMsg: "none by a trusted key"},
		{name: "bundle by unknown key", sign: func(d name.Digest) { other.SignBundle(t, d) },
			policy: keyPolicy("p", glob, key.PublicPEM, ""), wantReason: verify.ReasonUntrusted, wantMsg: "none by a trusted key"},
		{name: "attestation is not a signature", sign: func(d name.Digest) { key.AttestBundle(t, d, "https://slsa.dev/provenance/v1") },
			policy: keyPolicy("p", glob, key.PublicPEM, ""), wantReason: verify.ReasonUntrusted, wantMsg: "not a cosign signature"},
		{name: "keyless wrong subject", sign: func(d name.Digest) { ca.Keyless(t, issuer, "mallory@evil.test").SignLegacy(t, d) },
			policy: keylessPolicy("p", glob, ca.PEM, sealv1.Identity{Issuer: issuer, Subject: sub}), wantReason: verify.ReasonUntrusted},
		{name: "keyless bundle wrong issuer", sign: func(d name.Digest) { ca.Keyless(t, "https://other.test", sub).SignBundle(t, d) },
			policy: keylessPolicy("p", glob, ca.PEM, sealv1.Identity{Issuer: issuer, Subject: sub}), wantReason: verify.ReasonUntrusted},
		{name: "keyless untrusted CA", sign: func(d name.Digest) { otherCA.Keyless(t, issuer, sub).SignBundle(t, d) },
			policy: keylessPolicy("p", glob, ca.PEM, sealv1.Identity{Issuer: issuer, Subject: sub}), wantReason: verify.ReasonUntrusted},
		{name: "warn mode admits unsigned", sign: func(name.Digest) {},
			policy: keyPolicy("p", glob, key.PublicPEM, sealv1.ModeWarn), wantAllow: true, wantWarn: true, wantReason: verify.ReasonNoSignature},
		{name: "no matching policy", sign: func(d name.Digest) { key.SignLegacy(t, d) },
			policy: keyPolicy("p", "registry.example.com/**", key.PublicPEM, ""), wantReason: verify.ReasonNoMatch, wantMsg: "no ImagePolicy matches"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := img(strings.ToLower(strings.ReplaceAll(tt.name, " ", "-")) + "-" + string(rune('a'+i)))
			tt.sign(d)
			v := newVerifier(t, &verify.StaticPolicies{Policies: []sealv1.ImagePolicy{tt.policy}})
			image := d.String()
			if tt.byTag {
				image = d.Context().Tag("v1").String()
			}
			got := v.Verify(context.Background(), verify.Request{Image: image})
			if got.Allowed != tt.wantAllow || got.Warning != tt.wantWarn || got.Reason != tt.wantReason {
				t.Fatalf("Verify(%s) = allowed %v warn %v reason %s (%s); want allowed %v warn %v reason %s",
					tt.name, got.Allowed, got.Warning, got.Reason, got.Message, tt.wantAllow, tt.wantWarn, tt.wantReason)
			}
			if !strings.Contains(got.Message, tt.wantMsg) {
				t.Errorf("message %q does not contain %q", got.Message, tt.wantMsg)
			}
			if got.Digest != d.String() {
				t.Errorf("digest = %q, want %q", got.Digest, d.String())
			}
		})
	}
}

func TestApprovedImage(t *testing.T) {
	reg := verifytest.NewRegistry(t)
	key := verifytest.NewKey(t)
	d := reg.Push(t, "team/app", "v1")
	src := &verify.StaticPolicies{
		Policies: []sealv1.ImagePolicy{keyPolicy("p", reg.Host+"/**", key.PublicPEM, "")},
		Approved: []sealv1.ApprovedImage{{ObjectMeta: metav1.ObjectMeta{Name: "app-v1"}, Spec: sealv1.ApprovedImageSpec{Image: d.String()}}},
	}
	v := newVerifier(t, src)
	got := v.Verify(context.Background(), verify.Request{Image: d.Context().Tag("v1").String()})
	if !got.Allowed || got.Reason != verify.ReasonApprovedImage || got.Policy != "app-v1" {
		t.Fatalf("got %+v, want approved by ApprovedImage app-v1", got)
	}
	other := reg.Push(t, "team/app", "v2")
	if got := v.Verify(context.Background(), verify.Request{Image: other.String()}); got.Allowed {
		t.Fatalf("unapproved unsigned image allowed: %+v", got)
	}
}

func TestNamespaceSelectorAndNoMatch(t *testing.T) {
	reg := verifytest.NewRegistry(t)
	key := verifytest.NewKey(t)
	d := reg.Push(t, "team/app", "v1")
	key.SignLegacy(t, d)
	p := keyPolicy("p", reg.Host+"/team/*", key.PublicPEM, "")
	p.Spec.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"team": "a"}}
	src := &verify.StaticPolicies{Policies: []sealv1.ImagePolicy{p}}
	for _, tt := range []struct {
		name      string
		labels    map[string]string
		noMatch   verify.NoMatchAction
		wantAllow bool
		wantWarn  bool
	}{
		{name: "selected namespace", labels: map[string]string{"team": "a"}, wantAllow: true},
		{name: "other namespace denied", labels: map[string]string{"team": "b"}},
		{name: "other namespace warn", labels: map[string]string{"team": "b"}, noMatch: verify.NoMatchWarn, wantAllow: true, wantWarn: true},
		{name: "other namespace allow", labels: nil, noMatch: verify.NoMatchAllow, wantAllow: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v := newVerifier(t, src, func(o *verify.Options) { o.NoMatch = tt.noMatch })
			got := v.Verify(context.Background(), verify.Request{Image: d.String(), NamespaceLabels: tt.labels})
			if got.Allowed != tt.wantAllow || got.Warning != tt.wantWarn {
				t.Fatalf("got allowed %v warn %v (%s), want %v %v", got.Allowed, got.Warning, got.Message, tt.wantAllow, tt.wantWarn)
			}
		})
	}
}

// keySecrets serves secretRef keys from a map, as the cluster would.
type keySecrets map[string]string

func (k keySecrets) PublicKey(_ context.Context, ns, name, key string) ([]byte, error) {
	if v, ok := k[ns+"/"+name+"/"+key]; ok {
		return []byte(v), nil
	}
	return nil, &notFound{ns + "/" + name}
}

type notFound struct{ s string }

func (n *notFound) Error() string { return "secret " + n.s + " not found" }

func TestSecretRefKey(t *testing.T) {
	reg := verifytest.NewRegistry(t)
	key := verifytest.NewKey(t)
	d := reg.Push(t, "team/app", "v1")
	key.SignBundle(t, d)
	p := keyPolicy("p", reg.Host+"/**", "", "")
	p.Spec.Authorities[0].Key = &sealv1.KeyRef{SecretRef: &sealv1.SecretKeyReference{Name: "signing"}}
	src := &verify.StaticPolicies{Policies: []sealv1.ImagePolicy{p}}

	v := newVerifier(t, src, func(o *verify.Options) {
		o.Namespace = "seal-system"
		o.Keys = keySecrets{"seal-system/signing/cosign.pub": key.PublicPEM}
	})
	if got := v.Verify(context.Background(), verify.Request{Image: d.String()}); !got.Allowed {
		t.Fatalf("signed image with secretRef key denied: %s", got.Message)
	}
	offline := newVerifier(t, src)
	got := offline.Verify(context.Background(), verify.Request{Image: d.String()})
	if got.Allowed || !strings.Contains(got.Message, "cannot be read here") {
		t.Fatalf("without a key source: got %+v, want a denial naming the secretRef", got)
	}
}

func TestBrokenRegistries(t *testing.T) {
	key := verifytest.NewKey(t)
	hang := make(chan struct{})
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hanging.Close)
	t.Cleanup(func() { close(hang) })
	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
		w.Header().Set("Docker-Content-Digest", "sha256:nonsense")
		_, _ = w.Write([]byte("\x00\xffthis is not json{{{"))
	}))
	t.Cleanup(garbage.Close)
	const dig = "@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, tt := range []struct {
		name, image string
	}{
		{"hanging registry by digest", strings.TrimPrefix(hanging.URL, "http://") + "/team/app" + dig},
		{"hanging registry by tag", strings.TrimPrefix(hanging.URL, "http://") + "/team/app:v1"},
		{"garbage registry by digest", strings.TrimPrefix(garbage.URL, "http://") + "/team/app" + dig},
		{"garbage registry by tag", strings.TrimPrefix(garbage.URL, "http://") + "/team/app:v1"},
		{"closed port", "127.0.0.1:1/team/app:v1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := &verify.StaticPolicies{Policies: []sealv1.ImagePolicy{keyPolicy("p", "127.0.0.1:*/**", key.PublicPEM, "")}}
			v := newVerifier(t, src, func(o *verify.Options) { o.RegistryTimeout = 300 * time.Millisecond })
			got := v.Verify(context.Background(), verify.Request{Image: tt.image})
			if got.Allowed || got.Reason != verify.ReasonRegistry || !strings.Contains(got.Message, "registry") {
				t.Fatalf("got allowed %v reason %s (%s), want a RegistryUnreachable denial", got.Allowed, got.Reason, got.Message)
			}
		})
	}
}

// A registry outage does not block what the policies only warn about: an image that only
// warn-mode policies match is admitted with a warning; one an enforcing policy matches is not.
func TestUnreachableRegistryUnderWarn(t *testing.T) {
	key := verifytest.NewKey(t)
	for _, tt := range []struct {
		name        string
		mode        sealv1.PolicyMode
		noMatch     verify.NoMatchAction
		image       string
		wantAllowed bool
	}{
		{"warn policy", sealv1.ModeWarn, "", "127.0.0.1:1/team/app:v1", true},
		{"enforce policy", sealv1.ModeEnforce, "", "127.0.0.1:1/team/app:v1", false},
		{"no match, no-match warn", sealv1.ModeEnforce, verify.NoMatchWarn, "127.0.0.1:1/other/app:v1", true},
		{"no match, no-match deny", sealv1.ModeEnforce, verify.NoMatchDeny, "127.0.0.1:1/other/app:v1", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := &verify.StaticPolicies{Policies: []sealv1.ImagePolicy{keyPolicy("p", "127.0.0.1:*/team/**", key.PublicPEM, tt.mode)}}
			v := newVerifier(t, src, func(o *verify.Options) { o.RegistryTimeout = 300 * time.Millisecond; o.NoMatch = tt.noMatch })
			got := v.Verify(context.Background(), verify.Request{Image: tt.image})
			if got.Allowed != tt.wantAllowed || got.Reason != verify.ReasonRegistry || got.Allowed && !got.Warning {
				t.Fatalf("got allowed %v warning %v reason %s (%s), want allowed %v with a warning, reason RegistryUnreachable", got.Allowed, got.Warning, got.Reason, got.Message, tt.wantAllowed)
			}
		})
	}
}

func TestBadReference(t *testing.T) {
	v := newVerifier(t, &verify.StaticPolicies{})
	for _, image := range []string{"", "UPPER/Case:tag", "repo@sha256:short", "a:b:c:d"} {
		got := v.Verify(context.Background(), verify.Request{Image: image})
		if got.Allowed || got.Reason != verify.ReasonBadReference {
			t.Errorf("Verify(%q) = %+v, want a BadReference denial", image, got)
		}
	}
}

func TestBadPolicies(t *testing.T) {
	ca := verifytest.NewCA(t)
	key := verifytest.NewKey(t)
	for _, tt := range []struct {
		name    string
		mutate  func(p *sealv1.ImagePolicy)
		wantErr string
	}{
		{"bad PEM", func(p *sealv1.ImagePolicy) {
			p.Spec.Authorities[0].Key.Data = "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n"
		}, "not a PEM public key"},
		{"not PEM at all", func(p *sealv1.ImagePolicy) { p.Spec.Authorities[0].Key.Data = "hello" }, "key.data"},
		{"bad hash", func(p *sealv1.ImagePolicy) { p.Spec.Authorities[0].Key.HashAlgorithm = "md5" }, "hashAlgorithm"},
		{"bad glob", func(p *sealv1.ImagePolicy) { p.Spec.Images[0].Glob = "reg/(x)" }, "images[0]"},
		{"bad mode", func(p *sealv1.ImagePolicy) { p.Spec.Mode = "audit" }, "mode"},
		{"key and keyless", func(p *sealv1.ImagePolicy) {
			p.Spec.Authorities[0].Keyless = &sealv1.Keyless{Identities: []sealv1.Identity{{Issuer: "x", Subject: "y"}}}
		}, "exactly one of key or keyless"},
		{"bad subject regexp", func(p *sealv1.ImagePolicy) {
			*p = keylessPolicy("p", "x/**", ca.PEM, sealv1.Identity{Issuer: issuer, SubjectRegExp: "(["})
		}, "subjectRegExp"},
		{"bad issuer regexp", func(p *sealv1.ImagePolicy) {
			*p = keylessPolicy("p", "x/**", ca.PEM, sealv1.Identity{IssuerRegExp: "a**+(", Subject: sub})
		}, "issuerRegExp"},
		{"bad CA PEM", func(p *sealv1.ImagePolicy) {
			*p = keylessPolicy("p", "x/**", "garbage", sealv1.Identity{Issuer: issuer, Subject: sub})
		}, "certificateAuthorities"},
		{"no trusted root", func(p *sealv1.ImagePolicy) {
			*p = keylessPolicy("p", "x/**", ca.PEM, sealv1.Identity{Issuer: issuer, Subject: sub})
			p.Spec.Authorities[0].Keyless.TrustedRoot = nil
		}, "trustedRoot"},
		{"bad rekor key", func(p *sealv1.ImagePolicy) {
			*p = keylessPolicy("p", "x/**", ca.PEM, sealv1.Identity{Issuer: issuer, Subject: sub})
			p.Spec.Authorities[0].Keyless.TrustedRoot.RekorPublicKey = "zzz"
		}, "rekorPublicKey"},
		{"bad selector", func(p *sealv1.ImagePolicy) {
			p.Spec.NamespaceSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: "Near"}}}
		}, "namespaceSelector"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := keyPolicy("p", "x/**", key.PublicPEM, "")
			tt.mutate(&p)
			err := verify.CheckPolicy(&p)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("CheckPolicy error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestBrokenPolicyFailsClosed(t *testing.T) {
	reg := verifytest.NewRegistry(t)
	key := verifytest.NewKey(t)
	d := reg.Push(t, "team/app", "v1")
	key.SignLegacy(t, d)
	p := keyPolicy("p", reg.Host+"/**", "not a key", "")
	v := newVerifier(t, &verify.StaticPolicies{Policies: []sealv1.ImagePolicy{p}})
	got := v.Verify(context.Background(), verify.Request{Image: d.String()})
	if got.Allowed || !strings.Contains(got.Message, "invalid policies ignored") {
		t.Fatalf("got %+v, want denial mentioning the invalid policy", got)
	}
}

func TestTransparencyLogRequiredWhenNamed(t *testing.T) {
	reg := verifytest.NewRegistry(t)
	ca := verifytest.NewCA(t)
	logKey := verifytest.NewKey(t) // stands for a Rekor log's key
	for _, format := range []string{"legacy", "bundle"} {
		t.Run(format, func(t *testing.T) {
			d := reg.Push(t, "team/tlog-"+format, "v1")
			s := ca.Keyless(t, issuer, sub)
			if format == "legacy" {
				s.SignLegacy(t, d)
			} else {
				s.SignBundle(t, d)
			}
			p := keylessPolicy("p", reg.Host+"/**", ca.PEM, sealv1.Identity{Issuer: issuer, Subject: sub})
			if got := newVerifier(t, &verify.StaticPolicies{Policies: []sealv1.ImagePolicy{p}}).Verify(context.Background(), verify.Request{Image: d.String()}); !got.Allowed {
				t.Fatalf("offline policy: %s", got.Message)
			}
			p.Spec.Authorities[0].Keyless.TrustedRoot.RekorPublicKey = logKey.PublicPEM
			got := newVerifier(t, &verify.StaticPolicies{Policies: []sealv1.ImagePolicy{p}}).Verify(context.Background(), verify.Request{Image: d.String()})
			if got.Allowed || got.Reason != verify.ReasonUntrusted {
				t.Fatalf("policy naming a transparency log admitted a signature without a log entry: %+v", got)
			}
		})
	}
}
