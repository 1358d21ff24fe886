package v1alpha1

// The labels and annotations of Seal's contract (docs/contracts.md), declared once here for
// every program, as istio.io/api/annotation does for Istio. Labels switch things on and off
// (the API server selects on labels); annotations carry settings.
const (
	// LabelInject on a Namespace (NamespaceInjectEnabled) injects every pod in it; on a Pod
	// ("true" or "false") opts that pod in or out.
	LabelInject = "seal.dev/inject"
	// NamespaceInjectEnabled is the value of LabelInject on a namespace whose pods are injected.
	NamespaceInjectEnabled = "enabled"
	// LabelEnforce "true" on a Namespace enforces image policies there even if it does not inject.
	LabelEnforce = "seal.dev/enforce"

	// AnnotationWorkload on a Pod names its workload (required for injection).
	AnnotationWorkload = "seal.dev/workload"
	// AnnotationPeer on a Pod names its peer inside the workload (default DefaultPeer).
	AnnotationPeer = "seal.dev/peer"
	// AnnotationEgg on a Pod says where its Egg is: "secret:<name>[/<key>]" or "image:<path>".
	AnnotationEgg = "seal.dev/egg"
	// AnnotationFederatesWith on a Pod is a comma list of trust domains whose bundles it gets.
	AnnotationFederatesWith = "seal.dev/federates-with"
	// AnnotationRouteHosts on a Pod is a comma list of passthrough-route hostnames for its
	// certificate's SANs.
	AnnotationRouteHosts = "seal.dev/route-hosts"
	// AnnotationRotate "true" on a Pod runs seal-init as a native sidecar that renews before
	// expiry.
	AnnotationRotate = "seal.dev/rotate"
	// AnnotationWorkloadAPI "false" on a rotating Pod runs the plain seal-init sidecar instead of
	// seal-agent, which also serves the SPIFFE Workload API (the default with AnnotationRotate).
	AnnotationWorkloadAPI = "seal.dev/workload-api"
	// AnnotationStatus on a Pod is written by the webhook: JSON of what was injected. It makes
	// injection idempotent; it is not proof of injection.
	AnnotationStatus = "seal.dev/status"

	// AnnotationPassthroughRoute on a Service asks for a passthrough Route of this host name.
	AnnotationPassthroughRoute = "seal.dev/passthrough-route"
	// AnnotationPassthroughRoutePort on a Service names the Route's target port (a port name or
	// number); default the Service's first port.
	AnnotationPassthroughRoutePort = "seal.dev/passthrough-route-port"

	// DefaultPeer is the peer of a pod without AnnotationPeer.
	DefaultPeer = "any"

	// AnnotationAttest "tpm2" on a Pod mounts the node's TPM into seal-init only and makes it
	// attest the machine (a TPM 2.0 quote over the ROT's nonce) before redeeming.
	AnnotationAttest = "seal.dev/attest"
)

// SystemNamespaces are never injected or enforced, whatever their labels say (nor is Seal's
// own namespace, which each program knows from its flags).
var SystemNamespaces = map[string]bool{"kube-system": true, "kube-public": true, "kube-node-lease": true}

// AnnotationSecrets "false" on a Pod turns off the delivery of its workload's secrets to
// /var/run/seal/secrets (seal-init --secrets=false); by default they are delivered.
const AnnotationSecrets = "seal.dev/secrets"
