package inject

import (
	"sort"
	"strings"

	sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"

	corev1 "k8s.io/api/core/v1"
)

// Namespace is what Mutate needs of the pod's namespace.
type Namespace struct {
	Name   string
	Labels map[string]string
}

// Result is the outcome of Mutate for a pod that is not refused.
type Result struct {
	// Patch is a JSON array of RFC 6902 operations; nil when the pod is skipped.
	Patch []byte
	// Skipped says why the pod was left alone; empty when Patch is set.
	Skipped SkipReason
	// Status is what seal.dev/status records (zero when skipped).
	Status Status
	// Warnings are for the user (admission warnings), e.g. an unknown seal.dev annotation.
	Warnings []string
}

// Status is the JSON of the seal.dev/status annotation.
type Status struct {
	Version        string   `json:"version"`
	Workload       string   `json:"workload"`
	Peer           string   `json:"peer"`
	Egg            string   `json:"egg"`
	Rotate         bool     `json:"rotate,omitempty"`
	InitContainers []string `json:"initContainers"`
	Volumes        []string `json:"volumes"`
	// Mounted are the containers (app and later init containers) given the mount and env.
	Mounted []string `json:"mounted"`
}

var knownAnnotations = map[string]bool{
	AnnotationWorkload: true, AnnotationPeer: true, AnnotationEgg: true, AnnotationFederatesWith: true,
	AnnotationRouteHosts: true, AnnotationRotate: true, AnnotationStatus: true, AnnotationAttest: true,
	// Set by other parts of Seal (routes); not the injector's business.
	sealv1.AnnotationPassthroughRoute: true, sealv1.AnnotationPassthroughRoutePort: true,
}

// Mutate decides whether pod is injected and returns the patch that does it. pod is the pod as
// submitted (ns.Name is the request's namespace; pod.Namespace may be empty on CREATE). cfg must
// have passed Validate and be WithDefaults. Mutate does not modify pod. A refused pod returns a
// *RefusalError.
func Mutate(pod *corev1.Pod, ns Namespace, cfg *Config) (Result, error) {
	return MutateAppend(nil, pod, ns, cfg)
}

// MutateAppend is Mutate with the patch built after dst's bytes (Result.Patch is the patch
// alone, a slice of the grown dst): a caller that reviews many pods reuses one buffer instead of
// allocating a patch per pod.
func MutateAppend(dst []byte, pod *corev1.Pod, ns Namespace, cfg *Config) (Result, error) {
	if systemNamespaces[ns.Name] || (cfg.Namespace != "" && ns.Name == cfg.Namespace) {
		return Result{Skipped: SkipSystemNamespace}, nil
	}
	if _, ok := pod.Annotations[AnnotationStatus]; ok {
		return Result{Skipped: SkipAlreadyInjected}, nil
	}
	explicit := false
	switch v := pod.Labels[LabelInject]; v {
	case "false":
		return Result{Skipped: SkipOptedOut}, nil
	case "true":
		explicit = true
	case "":
		if ns.Labels[LabelInject] != NamespaceEnabled {
			return Result{Skipped: SkipNotSelected}, nil
		}
	default:
		return Result{}, refuse("label "+LabelInject, v, "is neither true nor false",
			`label the pod seal.dev/inject: "true" to opt in or "false" to opt out (namespaces use seal.dev/inject: enabled)`)
	}
	if !explicit && pod.Annotations[AnnotationWorkload] == "" {
		return Result{Skipped: SkipNoWorkload}, nil
	}
	s, err := parseSettings(pod.Annotations)
	if err != nil {
		return Result{}, err
	}
	if err := checkConflicts(pod); err != nil {
		return Result{}, err
	}
	return build(dst, pod, &s, cfg), nil
}

// checkConflicts refuses a pod that already has what Mutate would add under the same name:
// the API server would reject the patched pod.
func checkConflicts(pod *corev1.Pod) error {
	if len(pod.Spec.Containers) == 0 {
		return refuse("spec.containers", "", "is empty", "give the pod at least one container")
	}
	for i := range pod.Spec.Volumes {
		if n := pod.Spec.Volumes[i].Name; n == VolumeName || n == TokenVolumeName || n == TPMVolumeName {
			return refuse("spec.volumes", n, "is a name Seal adds", `rename the pod's volume "`+n+`"`)
		}
	}
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range list {
			c := &list[i]
			if c.Name == InitContainerName || c.Name == CopyContainerName {
				return refuse("container name", c.Name, "is a name Seal adds", "rename the container")
			}
			for j := range c.VolumeMounts {
				// The token and the TPM are for seal-init only: a container of the pod that names
				// them would get the pod's ServiceAccount token or the node's TPM (admission would
				// accept it, as Seal adds both volumes).
				if n := c.VolumeMounts[j].Name; n == TokenVolumeName || n == TPMVolumeName {
					return refuse("container "+c.Name+" volumeMount", n, "names a volume only seal-init may mount", "remove the mount: the pod's ServiceAccount token and the node's TPM are for seal-init")
				}
				if mp := strings.TrimRight(c.VolumeMounts[j].MountPath, "/"); mp == MountPath {
					return refuse("container "+c.Name+" volumeMount", c.VolumeMounts[j].MountPath, "is where Seal mounts its volume", "mount the volume elsewhere")
				}
			}
		}
	}
	return nil
}

func build(dst []byte, pod *corev1.Pod, s *settings, cfg *Config) Result {
	inits := initContainers(pod, s, cfg)
	f := appEnv{s, cfg}
	st := Status{
		Version: cfg.Version, Workload: s.workload, Peer: s.peer, Egg: s.eggSource, Rotate: s.rotate,
		Volumes: []string{VolumeName},
		Mounted: make([]string, 0, len(pod.Spec.Containers)+len(pod.Spec.InitContainers)),
	}
	for _, c := range inits {
		st.InitContainers = append(st.InitContainers, c.Name)
	}
	w := newPatchWriter(dst, 2048+1024*len(inits)+400*(len(pod.Spec.Containers)+len(pod.Spec.InitContainers)))

	// Existing init containers first, at their original indexes, then the new ones in front.
	for i := range pod.Spec.InitContainers {
		f.patchContainer(w, "initContainers", i, &pod.Spec.InitContainers[i])
		st.Mounted = append(st.Mounted, pod.Spec.InitContainers[i].Name)
	}
	if len(pod.Spec.InitContainers) == 0 {
		w.open("/spec/initContainers")
		w.buf = append(w.buf, '[')
		for i := range inits {
			if i > 0 {
				w.buf = append(w.buf, ',')
			}
			w.buf = appendContainer(w.buf, &inits[i], cfg)
		}
		w.buf = append(w.buf, ']')
		w.close()
	} else {
		for i := range inits {
			w.openAt("initContainers", i, "")
			w.buf = appendContainer(w.buf, &inits[i], cfg)
			w.close()
		}
	}
	for i := range pod.Spec.Containers {
		f.patchContainer(w, "containers", i, &pod.Spec.Containers[i])
		st.Mounted = append(st.Mounted, pod.Spec.Containers[i].Name)
	}
	const vol = `{"name":"` + VolumeName + `","emptyDir":{"medium":"Memory","sizeLimit":"` + VolumeSizeLimit + `"}}`
	if len(pod.Spec.Volumes) == 0 {
		w.open("/spec/volumes")
		w.buf = append(w.buf, "["+vol+"]"...)
	} else {
		w.open("/spec/volumes/-")
		w.buf = append(w.buf, vol...)
	}
	w.close()
	if projectsToken(pod) {
		w.add("/spec/volumes/-", tokenVolumeJSON(cfg.TokenAudience))
		st.Volumes = append(st.Volumes, TokenVolumeName)
	}
	if tv := s.tpmVolumeJSON(cfg); tv != nil {
		w.add("/spec/volumes/-", tv)
		st.Volumes = append(st.Volumes, TPMVolumeName)
	}
	var scratch [512]byte // the status JSON, written into the patch as a JSON string
	status := string(appendStatus(scratch[:0], &st))
	if len(pod.Annotations) == 0 {
		w.open("/metadata/annotations")
		w.buf = append(appendString(append(w.buf, '{'), AnnotationStatus), ':')
		w.buf = append(appendString(w.buf, status), '}')
	} else {
		w.open("/metadata/annotations/" + pointerEscape(AnnotationStatus))
		w.buf = appendString(w.buf, status)
	}
	w.close()
	return Result{Patch: w.bytes(), Status: st, Warnings: warnings(pod.Annotations)}
}

// warnings name seal.dev annotations Seal does not know (a typo leaves a setting unused).
func warnings(ann map[string]string) []string {
	var out []string
	for k := range ann {
		if strings.HasPrefix(k, "seal.dev/") && !knownAnnotations[k] {
			out = append(out, "seal: unknown annotation "+k+" is ignored (known: seal.dev/workload, peer, egg, federates-with, route-hosts, rotate, attest)")
		}
	}
	sort.Strings(out)
	return out
}
