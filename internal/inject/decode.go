package inject

import (
	"errors"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/seal-dev/seal/internal/jsonscan"
)

// ErrNotPod is a review object DecodePod cannot read as a Pod.
var ErrNotPod = errors.New("inject: the object is not a Pod")

// DecodeOptions match how the API server reads JSON (sigs.k8s.io/json): field names are
// case-sensitive, a repeated name keeps its last value, invalid UTF-8 becomes U+FFFD.
var DecodeOptions = json.JoinOptions(
	jsontext.AllowDuplicateNames(true),
	jsontext.AllowInvalidUTF8(true),
)

// PodJSON is the part of a Pod's JSON that Mutate (and the webhook's Events) read. Everything
// else (env values, probes, resources, ...) is skipped by the scanner without being allocated.
// Read it with ReadPod (or DecodePod), then call Pod. The json tags name the fields.
type PodJSON struct {
	Metadata struct {
		Name            string            `json:"name"`
		GenerateName    string            `json:"generateName"`
		Namespace       string            `json:"namespace"`
		UID             types.UID         `json:"uid"`
		Labels          map[string]string `json:"labels"`
		Annotations     map[string]string `json:"annotations"`
		OwnerReferences []ownerJSON       `json:"ownerReferences"`
	} `json:"metadata"`
	Spec struct {
		InitContainers     []containerJSON  `json:"initContainers"`
		Containers         []containerJSON  `json:"containers"`
		Volumes            []volumeJSON     `json:"volumes"`
		HostNetwork        bool             `json:"hostNetwork"`
		ServiceAccountName string           `json:"serviceAccountName"`
		SecurityContext    *podSecurityJSON `json:"securityContext"`
	} `json:"spec"`
}

type containerJSON struct {
	Name            string            `json:"name"`
	Image           string            `json:"image"`
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy"`
	// Env: Mutate only asks whether there is any.
	Env          nonEmptyList     `json:"env"`
	VolumeMounts []mountJSONField `json:"volumeMounts"`
}

type mountJSONField struct {
	Name      string `json:"name"`
	MountPath string `json:"mountPath"`
}

type ownerJSON struct {
	APIVersion string    `json:"apiVersion"`
	Kind       string    `json:"kind"`
	Name       string    `json:"name"`
	UID        types.UID `json:"uid"`
	Controller *bool     `json:"controller"`
}

type volumeJSON struct {
	Name string `json:"name"`
}

type podSecurityJSON struct {
	FSGroup *int64 `json:"fsGroup"`
}

// DecodePod reads what Mutate needs from a Pod's JSON (see PodJSON and ReadPod).
func DecodePod(raw []byte) (*corev1.Pod, error) {
	var p PodJSON
	d := jsonscan.New(raw)
	err := ReadPod(d, &p)
	if err == nil {
		err = d.End()
	}
	if err != nil {
		return nil, errors.Join(ErrNotPod, err)
	}
	return p.Pod(), nil
}

// Pod is the corev1.Pod holding only the fields PodJSON read. A container's Env is nil when
// the JSON had none and a single empty EnvVar otherwise: Mutate only tests its length.
func (p *PodJSON) Pod() *corev1.Pod {
	pod := new(corev1.Pod)
	p.PodInto(pod)
	return pod
}

// PodInto writes Pod's result over pod, reusing the storage of pod's lists (owners,
// containers, their mounts and env, volumes): a webhook that keeps a Pod per review in a pool
// allocates almost nothing here. Every field of pod is overwritten.
func (p *PodJSON) PodInto(pod *corev1.Pod) {
	owners, vols := pod.OwnerReferences, pod.Spec.Volumes
	inits, cs := pod.Spec.InitContainers, pod.Spec.Containers
	*pod = corev1.Pod{ObjectMeta: metav1.ObjectMeta{
		Name: p.Metadata.Name, GenerateName: p.Metadata.GenerateName, Namespace: p.Metadata.Namespace,
		UID: p.Metadata.UID, Labels: p.Metadata.Labels, Annotations: p.Metadata.Annotations,
	}}
	if len(p.Metadata.OwnerReferences) > 0 {
		pod.OwnerReferences = resize(owners, len(p.Metadata.OwnerReferences))
		for i, o := range p.Metadata.OwnerReferences {
			pod.OwnerReferences[i] = metav1.OwnerReference{APIVersion: o.APIVersion, Kind: o.Kind, Name: o.Name, UID: o.UID, Controller: o.Controller}
		}
	}
	s := &pod.Spec
	s.InitContainers = containers(inits, p.Spec.InitContainers)
	s.Containers = containers(cs, p.Spec.Containers)
	if p.Spec.Volumes != nil {
		s.Volumes = resize(vols, len(p.Spec.Volumes))
		for i, v := range p.Spec.Volumes {
			s.Volumes[i] = corev1.Volume{Name: v.Name}
		}
	}
	s.HostNetwork = p.Spec.HostNetwork
	s.ServiceAccountName = p.Spec.ServiceAccountName
	if sc := p.Spec.SecurityContext; sc != nil {
		s.SecurityContext = &corev1.PodSecurityContext{FSGroup: sc.FSGroup}
	}
}

// resize is s with length n, in s's storage when it has room; the elements are not cleared.
// An empty list is always the same non-nil empty slice, whatever s held.
func resize[E any](s []E, n int) []E {
	if n == 0 {
		return []E{}
	}
	if cap(s) < n {
		return make([]E, n)
	}
	return s[:n]
}

// containers converts in, in dst's storage when it has room (nil stays nil).
func containers(dst []corev1.Container, in []containerJSON) []corev1.Container {
	if in == nil {
		return nil
	}
	out := resize(dst, len(in))
	for i := range in {
		c, o := &in[i], &out[i]
		env, mounts := o.Env, o.VolumeMounts
		*o = corev1.Container{Name: c.Name, Image: c.Image, ImagePullPolicy: c.ImagePullPolicy}
		if bool(c.Env) {
			o.Env = resize(env, 1) // stands for the list: Mutate only tests its length
			o.Env[0] = corev1.EnvVar{}
		}
		if c.VolumeMounts != nil {
			o.VolumeMounts = resize(mounts, len(c.VolumeMounts))
			for j, m := range c.VolumeMounts {
				o.VolumeMounts[j] = corev1.VolumeMount{Name: m.Name, MountPath: m.MountPath}
			}
		}
	}
	return out
}

// nonEmptyList is whether a JSON array has an element; the array is scanned (it must be valid
// JSON) but nothing in it is decoded.
type nonEmptyList bool
