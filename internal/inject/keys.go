package inject

// Labels and annotations (domain seal.dev), see docs/webhook.md.
const (
	// LabelInject on a Namespace ("enabled") injects every pod in it; on a Pod ("true" or
	// "false") opts that pod in or out.
	LabelInject = "seal.dev/inject"
	// AnnotationWorkload names the workload (required for injection).
	AnnotationWorkload = "seal.dev/workload"
	// AnnotationPeer names the peer inside the workload (default "any").
	AnnotationPeer = "seal.dev/peer"
	// AnnotationEgg says where the Egg is: "secret:<name>[/<key>]" or "image:<path>".
	AnnotationEgg = "seal.dev/egg"
	// AnnotationFederatesWith is a comma list of trust domains whose bundles the pod gets.
	AnnotationFederatesWith = "seal.dev/federates-with"
	// AnnotationRouteHosts is a comma list of passthrough-route hostnames for the cert's SANs.
	AnnotationRouteHosts = "seal.dev/route-hosts"
	// AnnotationRotate "true" runs seal-init as a native sidecar that renews before expiry.
	AnnotationRotate = "seal.dev/rotate"
	// AnnotationStatus is written by the webhook: JSON of what was injected.
	AnnotationStatus = "seal.dev/status"

	// NamespaceEnabled is the value of LabelInject on a namespace whose pods are injected.
	NamespaceEnabled = "enabled"
	// DefaultPeer is the peer of a pod without seal.dev/peer.
	DefaultPeer = "any"
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
var systemNamespaces = map[string]bool{"kube-system": true, "kube-public": true, "kube-node-lease": true}
