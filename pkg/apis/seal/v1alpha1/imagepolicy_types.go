package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PolicyMode says what happens to an image the policy does not approve.
// +kubebuilder:validation:Enum=enforce;warn
type PolicyMode string

const (
	// ModeEnforce denies unapproved images.
	ModeEnforce PolicyMode = "enforce"
	// ModeWarn admits unapproved images with an admission warning.
	ModeWarn PolicyMode = "warn"
)

// ImagePattern selects images by glob, as sigstore policy-controller does: `*` matches within
// a path segment, `**` across segments.
type ImagePattern struct {
	// Glob matches image references (registry/repository), e.g. registry.example.com/team/**.
	// +kubebuilder:validation:MinLength=1
	Glob string `json:"glob"`
}

// SecretKeyReference names a key in a Secret.
type SecretKeyReference struct {
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// Namespace of the Secret; defaults to the webhook's namespace.
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// Key in the Secret's data; default "cosign.pub".
	// +optional
	Key string `json:"key,omitempty"`
}

// KeyRef is a public key that signs images.
// +kubebuilder:validation:XValidation:rule="has(self.data) != has(self.secretRef)",message="exactly one of data or secretRef must be set"
type KeyRef struct {
	// Data is a PEM-encoded public key.
	// +optional
	Data string `json:"data,omitempty"`
	// SecretRef points at a Secret holding the PEM public key.
	// +optional
	SecretRef *SecretKeyReference `json:"secretRef,omitempty"`
	// HashAlgorithm used by the signer; default sha256.
	// +optional
	HashAlgorithm string `json:"hashAlgorithm,omitempty"`
}

// Identity is one accepted keyless signer: an OIDC issuer and subject, exact or by regexp.
// Exactly one of issuer and issuerRegExp, and exactly one of subject and subjectRegExp, as in
// policy-controller.
// +kubebuilder:validation:XValidation:rule="has(self.issuer) != has(self.issuerRegExp)",message="exactly one of issuer or issuerRegExp must be set"
// +kubebuilder:validation:XValidation:rule="has(self.subject) != has(self.subjectRegExp)",message="exactly one of subject or subjectRegExp must be set"
type Identity struct {
	// Issuer is the exact OIDC issuer URL of the signing certificate.
	// +optional
	Issuer string `json:"issuer,omitempty"`
	// IssuerRegExp matches the OIDC issuer URL (RE2, anchored as ^(?:...)$).
	// +optional
	IssuerRegExp string `json:"issuerRegExp,omitempty"`
	// Subject is the exact subject (SAN e-mail or URI) of the signing certificate.
	// +optional
	Subject string `json:"subject,omitempty"`
	// SubjectRegExp matches the subject (RE2, anchored as ^(?:...)$).
	// +optional
	SubjectRegExp string `json:"subjectRegExp,omitempty"`
}

// TrustedRoot is the offline trust material for keyless verification.
type TrustedRoot struct {
	// CertificateAuthorities is a PEM bundle of the Fulcio (or private) root and intermediates.
	// +kubebuilder:validation:MinLength=1
	CertificateAuthorities string `json:"certificateAuthorities"`
	// RekorPublicKey is the PEM key of a transparency log. When empty, no transparency log is
	// consulted or required (offline verification).
	// +optional
	RekorPublicKey string `json:"rekorPublicKey,omitempty"`
	// CTLogPublicKey is the PEM key of a certificate transparency log. When empty, SCTs are not
	// required.
	// +optional
	CTLogPublicKey string `json:"ctLogPublicKey,omitempty"`
}

// Keyless accepts certificates from a trusted root carrying one of the identities.
type Keyless struct {
	// Identities are the accepted signers; any one of them approves.
	// +kubebuilder:validation:MinItems=1
	Identities []Identity `json:"identities"`
	// TrustedRoot is the offline trust material (Fulcio roots, transparency log keys).
	// +optional
	TrustedRoot *TrustedRoot `json:"trustedRoot,omitempty"`
}

// Authority is one way an image may be approved: a key or a keyless identity.
// +kubebuilder:validation:XValidation:rule="has(self.key) != has(self.keyless)",message="exactly one of key or keyless must be set"
type Authority struct {
	// Name identifies the authority in status messages and audit annotations.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// Key approves images signed with a public key.
	// +optional
	Key *KeyRef `json:"key,omitempty"`
	// Keyless approves images signed by a keyless (Fulcio) identity.
	// +optional
	Keyless *Keyless `json:"keyless,omitempty"`
}

// ImagePolicySpec approves images that match a glob and carry a signature by an authority.
type ImagePolicySpec struct {
	// Images are the globs this policy applies to.
	// +kubebuilder:validation:MinItems=1
	Images []ImagePattern `json:"images"`
	// Authorities approve a matching image; one of them must (they are ORed).
	// +kubebuilder:validation:MinItems=1
	Authorities []Authority `json:"authorities"`
	// Mode is enforce (deny unapproved images) or warn (admit them with a warning).
	// +optional
	// +kubebuilder:default=enforce
	Mode PolicyMode `json:"mode,omitempty"`
	// NamespaceSelector limits the policy to matching namespaces; empty means all.
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`
}

// ImagePolicyStatus reports whether the policy could be loaded.
type ImagePolicyStatus struct {
	// ObservedGeneration is the generation seal-webhook last loaded.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions are the standard Kubernetes conditions; Ready=False names what failed to load.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// ImagePolicy approves images by cosign signature. It follows sigstore policy-controller's
// ClusterImagePolicy.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=sip,categories=seal
// +kubebuilder:printcolumn:name="Mode",type=string,JSONPath=`.spec.mode`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Message",type=string,priority=1,JSONPath=`.status.conditions[?(@.type=="Ready")].message`
type ImagePolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the images and the authorities that approve them.
	Spec ImagePolicySpec `json:"spec,omitempty"`
	// Status is written by seal-webhook when it loads the policy.
	Status ImagePolicyStatus `json:"status,omitempty"`
}

// ImagePolicyList is a list of ImagePolicies.
//
// +kubebuilder:object:root=true
type ImagePolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ImagePolicy `json:"items"`
}
