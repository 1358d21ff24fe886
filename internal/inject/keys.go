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
	AnnotationStatus        = sealv1.AnnotationStatus
	AnnotationSecrets       = sealv1.AnnotationSecrets
	NamespaceEnabled        = sealv1.NamespaceInjectEnabled
	DefaultPeer             = sealv1.DefaultPeer
)

// Names of what Mutate adds to a pod.
const (
	// VolumeName is the memory emptyDir holding the pod's certificates and keys.
	VolumeName = "seal"
	// VolumeSizeLimit bounds the volume: the files are a few KiB, bin/seal-init (image Eggs) ~7 MiB.
	VolumeSizeLimit = "16Mi"
	// MountPath is where the volume is mounted (read-only in app containers).
	MountPath = "/var/run/seal"
	// InitContainerName is the container that redeems the Egg.
	InitContainerName = "seal-init"
	// CopyContainerName copies seal-init into the volume when the Egg is in the app image.
	CopyContainerName = "seal-init-copy"
	// CopiedBinary is where the copy step puts seal-init inside the volume.
	CopiedBinary = MountPath + "/bin/seal-init"
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
