package inject

import (
	"errors"
	"fmt"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Config is what the webhook operator chooses for every injected pod.
type Config struct {
	// Image is the seal-init image (required).
	Image string
	// PullPolicy of the seal-init image; empty leaves the Kubernetes default.
	PullPolicy corev1.PullPolicy
	// Resources of the seal-init container(s); the zero value means DefaultResources.
	Resources corev1.ResourceRequirements
	// Binary is the path of seal-init inside Image (default "/seal-init").
	Binary string
	// AgentBinary is the path of seal-agent inside Image (default "/seal-agent"): the rotating
	// sidecar that also serves the SPIFFE Workload API.
	AgentBinary string
	// TrustDomain is the SPIFFE trust domain of the ROT (required; it makes SEAL_SPIFFE_ID).
	TrustDomain string
	// Namespace is the webhook's own namespace: never injected.
	Namespace string
	// Version is the Seal version recorded in seal.dev/status.
	Version string
	// TokenAudience is the audience of the projected ServiceAccount token mounted into
	// seal-init (DefaultTokenAudience when empty; --token-audience).
	TokenAudience string
	// TPM is the node's TPM for pods annotated seal.dev/attest: tpm2: a device path, mounted
	// from the host into seal-init only (default /dev/tpmrm0), or tcp:HOST:PORT (a TPM
	// simulator reachable from host-network pods; nothing is mounted).
	TPM string

	resources []byte // JSON of Resources, set by WithDefaults
}

// DefaultResources are seal-init's requests and limits when Config.Resources is empty.
func DefaultResources() corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("10m"),
			corev1.ResourceMemory: resource.MustParse("16Mi"),
		},
		Limits: corev1.ResourceList{
			corev1.ResourceMemory: resource.MustParse("64Mi"),
		},
	}
}

// WithDefaults returns c with empty optional fields set to their defaults, ready for Mutate.
// Call it again after changing c.
func (c Config) WithDefaults() Config {
	if c.Binary == "" {
		c.Binary = DefaultBinary
	}
	if c.AgentBinary == "" {
		c.AgentBinary = DefaultAgentBinary
	}
	if c.Resources.Requests == nil && c.Resources.Limits == nil && c.Resources.Claims == nil {
		c.Resources = DefaultResources()
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.TokenAudience == "" {
		c.TokenAudience = DefaultTokenAudience
	}
	c.resources = mustJSON(&c.Resources)
	return c
}

// Validate reports a Config that cannot inject a working pod.
func (c Config) Validate() error {
	var errs []error
	if c.Image == "" {
		errs = append(errs, errors.New("inject: the seal-init image is required (--init-image)"))
	}
	if _, err := spiffeid.TrustDomainFromString(c.TrustDomain); err != nil || c.TrustDomain == "" {
		errs = append(errs, fmt.Errorf("inject: trust domain %q is not valid (--trust-domain, e.g. prod.example.org)", c.TrustDomain))
	}
	switch c.PullPolicy {
	case "", corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	default:
		errs = append(errs, fmt.Errorf("inject: pull policy %q is not Always, IfNotPresent or Never", c.PullPolicy))
	}
	if c.TPM != "" && !validTPM(c.TPM) {
		errs = append(errs, fmt.Errorf("inject: TPM %q is neither an absolute device path nor tcp:HOST:PORT (--tpm)", c.TPM))
	}
	return errors.Join(errs...)
}
