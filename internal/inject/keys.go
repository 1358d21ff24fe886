package inject

import sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"

// The contract's labels and annotations (declared in pkg/apis/seal/v1alpha1), under the names
// the injector's code uses.
const (
	LabelInject             = sealv1.LabelInject
	AnnotationWorkload      = sealv1.AnnotationWorkload
	AnnotationPeer          = sealv1.AnnotationPeer
	AnnotationEgg           = sealv1.AnnotationEgg
	AnnotationFederatesWith = sealv1.AnnotationFederatesWith
	AnnotationRouteHosts    = sealv1.AnnotationRouteHosts
	AnnotationRotate        = sealv1.AnnotationRotate
	AnnotationWorkloadAPI   = sealv1.AnnotationWorkloadAPI
	AnnotationStatus        = sealv1.AnnotationStatus
	AnnotationSecrets       = sealv1.AnnotationSecrets
	NamespaceEnabled        = sealv1.NamespaceInjectEnabled
	DefaultPeer             = sealv1.DefaultPeer
)

// Names of what Mutate adds to a pod.
const (
	// VolumeName is the memory emptyDir holding the pod's certificates and keys.
	VolumeName = "seal"
	// VolumeSizeLimit bounds the volume: the files are a few KiB, bin/seal-init (image Eggs)
	// ~7 MiB, bin/seal-agent (image Eggs with rotation) ~13 MiB.
	VolumeSizeLimit = "32Mi"
	// MountPath is where the volume is mounted (read-only in app containers).
	MountPath = "/var/run/seal"
	// InitContainerName is the container that redeems the Egg.
	InitContainerName = "seal-init"
	// CopyContainerName copies seal-init into the volume when the Egg is in the app image.
	CopyContainerName = "seal-init-copy"
	// CopiedBinary is where the copy step puts seal-init inside the volume.
	CopiedBinary = MountPath + "/bin/seal-init"
	// CopiedAgent is where the copy step puts seal-agent (a rotating pod with an image Egg).
	CopiedAgent = MountPath + "/bin/seal-agent"
	// AgentSocket is the SPIFFE Workload API socket seal-agent serves in the volume.
	AgentSocket = MountPath + "/agent.sock"
	// EnvEndpointSocket tells SPIFFE clients (go-spiffe, spiffe-helper, java-spiffe) where the
	// Workload API is.
	EnvEndpointSocket = "SPIFFE_ENDPOINT_SOCKET"
	// EggEnv is the env var that carries an Egg from a Secret.
	EggEnv = "SEAL_EGG"
	// DefaultEggKey is the Secret key of the Egg when seal.dev/egg names no key.
	DefaultEggKey = "egg"
)

// SkipReason says why a pod was not injected; it is a metrics label.
type SkipReason string

// The reasons Mutate skips a pod.
const (
	SkipSystemNamespace SkipReason = "system-namespace"
	SkipNotSelected     SkipReason = "not-selected"
	SkipOptedOut        SkipReason = "opted-out"
	SkipNoWorkload      SkipReason = "no-workload"
	SkipAlreadyInjected SkipReason = "already-injected"
)

// SkipReasons lists every SkipReason (to initialise metrics).
var SkipReasons = []SkipReason{SkipSystemNamespace, SkipNotSelected, SkipOptedOut, SkipNoWorkload, SkipAlreadyInjected}

// systemNamespaces are never injected, whatever their labels say.
var systemNamespaces = sealv1.SystemNamespaces
