package verify

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/sigstore/cosign/v2/pkg/cosign"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/tuf"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"
)

// ErrBadPolicy reports an ImagePolicy that cannot be used (bad glob, PEM, regexp, …).
var ErrBadPolicy = errors.New("verify: bad image policy")

// policy is a compiled ImagePolicy.
type policy struct {
	name        string
	uid         string
	generation  int64
	mode        sealv1.PolicyMode
	globs       []*Glob
	selector    labels.Selector // nil: every namespace
	authorities []*authority
}

// authority is a compiled Authority: a public key (inline or in a Secret) or keyless identities.
type authority struct {
	name string
	// id identifies the trust material, so a cache entry never outlives a change to it.
	id        string
	hash      crypto.Hash
	key       signature.Verifier // inline key; nil for secretRef and keyless
	secretRef *sealv1.SecretKeyReference
	keyless   *keyless
}

type keyless struct {
	identities    []cosign.Identity
	roots         *x509.CertPool
	intermediates *x509.CertPool
	trusted       root.TrustedMaterial
	rekor         *cosign.TrustedTransparencyLogPubKeys // nil: no transparency log
	ctlog         *cosign.TrustedTransparencyLogPubKeys // nil: no SCTs
}

// CompilePolicy checks an ImagePolicy and compiles it. Errors wrap ErrBadPolicy and name the
// field that is wrong; they never panic on any input.
func CompilePolicy(p *sealv1.ImagePolicy) (*policy, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w %q: %s", ErrBadPolicy, p.Name, fmt.Sprintf(format, args...))
	}
	c := &policy{name: p.Name, uid: string(p.UID), generation: p.Generation, mode: p.Spec.Mode}
	switch c.mode {
	case "":
		c.mode = sealv1.ModeEnforce
	case sealv1.ModeEnforce, sealv1.ModeWarn:
	default:
		return nil, bad("mode %q: want enforce or warn", p.Spec.Mode)
	}
	if len(p.Spec.Images) == 0 {
		return nil, bad("images: at least one glob is required")
	}
	for i, im := range p.Spec.Images {
		g, err := CompileGlob(im.Glob)
		if err != nil {
			return nil, bad("images[%d]: %v", i, err)
		}
		c.globs = append(c.globs, g)
	}
	if p.Spec.NamespaceSelector != nil {
		sel, err := metav1.LabelSelectorAsSelector(p.Spec.NamespaceSelector)
		if err != nil {
			return nil, bad("namespaceSelector: %v", err)
		}
		c.selector = sel
	}
	if len(p.Spec.Authorities) == 0 {
		return nil, bad("authorities: at least one is required")
	}
	for i, a := range p.Spec.Authorities {
		ca, err := compileAuthority(&a)
		if err != nil {
			return nil, bad("authorities[%d] (%s): %v", i, a.Name, err)
		}
		c.authorities = append(c.authorities, ca)
	}
	return c, nil
}

func compileAuthority(a *sealv1.Authority) (*authority, error) {
	if a.Name == "" {
		return nil, errors.New("name is required")
	}
	if (a.Key == nil) == (a.Keyless == nil) {
		return nil, errors.New("exactly one of key or keyless must be set")
	}
	c := &authority{name: a.Name}
	if a.Key != nil {
		h, err := hashAlgorithm(a.Key.HashAlgorithm)
		if err != nil {
			return nil, err
		}
		c.hash = h
		switch {
		case (a.Key.Data == "") == (a.Key.SecretRef == nil):
			return nil, errors.New("key: exactly one of data or secretRef must be set")
		case a.Key.Data != "":
			v, err := loadKey([]byte(a.Key.Data), h)
			if err != nil {
				return nil, fmt.Errorf("key.data: %w", err)
			}
			c.key = v
			c.id = a.Name + "/" + fingerprint([]byte(a.Key.Data))
		default:
			if a.Key.SecretRef.Name == "" {
				return nil, errors.New("key.secretRef.name is required")
			}
			ref := *a.Key.SecretRef
			if ref.Key == "" {
				ref.Key = "cosign.pub"
			}
			c.secretRef = &ref
			c.id = a.Name // completed with the key's fingerprint when the Secret is read
		}
		return c, nil
	}
	kl, err := compileKeyless(a.Keyless)
	if err != nil {
		return nil, err
	}
	c.keyless = kl
	c.id = a.Name + "/" + fingerprint([]byte(fmt.Sprintf("%+v", *a.Keyless.TrustedRoot)), []byte(fmt.Sprintf("%+v", a.Keyless.Identities)))
	return c, nil
}

func hashAlgorithm(s string) (crypto.Hash, error) {
	switch strings.ToLower(s) {
	case "", "sha256":
		return crypto.SHA256, nil
	case "sha384":
		return crypto.SHA384, nil
	case "sha512":
		return crypto.SHA512, nil
	}
	return 0, fmt.Errorf("key.hashAlgorithm %q: want sha256, sha384 or sha512", s)
}

// loadKey parses a PEM public key into a verifier.
func loadKey(pemBytes []byte, h crypto.Hash) (signature.Verifier, error) {
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(pemBytes)
	if err != nil {
		return nil, fmt.Errorf("not a PEM public key: %v", err)
	}
	v, err := signature.LoadVerifier(pub, h)
	if err != nil {
		return nil, fmt.Errorf("unsupported public key: %v", err)
	}
	return v, nil
}

func fingerprint(parts ...[]byte) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write(p)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

func compileKeyless(k *sealv1.Keyless) (*keyless, error) {
	if len(k.Identities) == 0 {
		return nil, errors.New("keyless.identities: at least one is required")
	}
	if k.TrustedRoot == nil || k.TrustedRoot.CertificateAuthorities == "" {
		return nil, errors.New("keyless.trustedRoot.certificateAuthorities is required (Seal verifies offline, against the roots the policy names)")
	}
	c := &keyless{roots: x509.NewCertPool(), intermediates: x509.NewCertPool()}
	for i, id := range k.Identities {
		if (id.Issuer == "") == (id.IssuerRegExp == "") {
			return nil, fmt.Errorf("keyless.identities[%d]: exactly one of issuer or issuerRegExp must be set", i)
		}
		if (id.Subject == "") == (id.SubjectRegExp == "") {
			return nil, fmt.Errorf("keyless.identities[%d]: exactly one of subject or subjectRegExp must be set", i)
		}
		for field, re := range map[string]string{"issuerRegExp": id.IssuerRegExp, "subjectRegExp": id.SubjectRegExp} {
			if _, err := regexp.Compile(re); err != nil {
				return nil, fmt.Errorf("keyless.identities[%d].%s: %v", i, field, err)
			}
		}
		// cosign and sigstore-go search for a regexp anywhere in the issuer or subject;
		// Seal's identities must match them whole.
		c.identities = append(c.identities, cosign.Identity{
			Issuer: id.Issuer, IssuerRegExp: anchor(id.IssuerRegExp), Subject: id.Subject, SubjectRegExp: anchor(id.SubjectRegExp),
		})
	}
	certs, err := cryptoutils.UnmarshalCertificatesFromPEM([]byte(k.TrustedRoot.CertificateAuthorities))
	if err != nil || len(certs) == 0 {
		return nil, fmt.Errorf("keyless.trustedRoot.certificateAuthorities: not a PEM certificate bundle: %v", err)
	}
	var rootCerts, inter []*x509.Certificate
	for _, crt := range certs {
		if isSelfSigned(crt) {
			rootCerts = append(rootCerts, crt)
			c.roots.AddCert(crt)
		} else {
			inter = append(inter, crt)
			c.intermediates.AddCert(crt)
		}
	}
	if len(rootCerts) == 0 {
		return nil, errors.New("keyless.trustedRoot.certificateAuthorities: no self-signed root certificate")
	}
	cas := make([]root.CertificateAuthority, 0, len(rootCerts))
	for _, r := range rootCerts {
		cas = append(cas, &root.FulcioCertificateAuthority{Root: r, Intermediates: inter})
	}
	var rekorLogs, ctLogs map[string]*root.TransparencyLog
	if pemKey := k.TrustedRoot.RekorPublicKey; pemKey != "" {
		if c.rekor, rekorLogs, err = transparencyLog(pemKey); err != nil {
			return nil, fmt.Errorf("keyless.trustedRoot.rekorPublicKey: %v", err)
		}
	}
	if pemKey := k.TrustedRoot.CTLogPublicKey; pemKey != "" {
		if c.ctlog, ctLogs, err = transparencyLog(pemKey); err != nil {
			return nil, fmt.Errorf("keyless.trustedRoot.ctLogPublicKey: %v", err)
		}
	}
	c.trusted, err = root.NewTrustedRoot(root.TrustedRootMediaType01, cas, ctLogs, nil, rekorLogs)
	if err != nil {
		return nil, fmt.Errorf("keyless.trustedRoot: %v", err)
	}
	return c, nil
}

func isSelfSigned(c *x509.Certificate) bool {
	return c.IsCA && c.CheckSignatureFrom(c) == nil
}

// transparencyLog loads a log's PEM key for both of cosign's verifiers.
func transparencyLog(pemKey string) (*cosign.TrustedTransparencyLogPubKeys, map[string]*root.TransparencyLog, error) {
	keys := cosign.NewTrustedTransparencyLogPubKeys()
	if err := keys.AddTransparencyLogPubKey([]byte(pemKey), tuf.Active); err != nil {
		return nil, nil, fmt.Errorf("not a PEM public key: %v", err)
	}
	pub, err := cryptoutils.UnmarshalPEMToPublicKey([]byte(pemKey))
	if err != nil {
		return nil, nil, err
	}
	logs := map[string]*root.TransparencyLog{}
	for id := range keys.Keys {
		raw, err := hex.DecodeString(id)
		if err != nil {
			return nil, nil, err
		}
		logs[id] = &root.TransparencyLog{
			ID: raw, PublicKey: pub, HashFunc: crypto.SHA256, SignatureHashFunc: crypto.SHA256,
			ValidityPeriodStart: time.Unix(0, 0),
		}
	}
	return &keys, logs, nil
}

// matches reports whether the policy applies to the image in a namespace with these labels.
func (p *policy) matches(ref refName, nsLabels labels.Set) bool {
	if p.selector != nil && !p.selector.Matches(nsLabels) {
		return false
	}
	for _, g := range p.globs {
		if g.match(ref.repo) || g.match(ref.full) || (ref.given != ref.full && g.match(ref.given)) {
			return true
		}
	}
	return false
}

// refName is a parsed reference's normalized names, computed once per image.
type refName struct {
	repo  string // index.docker.io/library/nginx
	full  string // index.docker.io/library/nginx@sha256:…
	given string // the reference as written, normalized: index.docker.io/library/nginx:1.25
}
