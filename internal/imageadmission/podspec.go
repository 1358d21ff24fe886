package imageadmission

import (
	"fmt"
	"strconv"

	"github.com/go-json-experiment/json"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/seal-dev/seal/internal/inject"
)

// workload is the part of an admitted object the handlers read: its metadata and pod spec.
type workload struct {
	meta metav1.ObjectMeta
	// specPath is the JSON pointer of the pod spec ("/spec/template/spec" for a Deployment).
	specPath string
	spec     corev1.PodSpec
}

// container is one container image in a pod spec.
type container struct {
	field string // containers, initContainers or ephemeralContainers
	index int
	name  string
	image string
}

// describe names the container for messages: `container "app" (spec.containers[0])`.
func (c container) describe() string {
	return fmt.Sprintf("%s %q", map[string]string{
		"containers": "container", "initContainers": "init container", "ephemeralContainers": "ephemeral container",
	}[c.field], c.name)
}

// imagePath is the JSON pointer of the container's image field.
func (w *workload) imagePath(c container) string {
	return w.specPath + "/" + c.field + "/" + strconv.Itoa(c.index) + "/image"
}

func (w *workload) containers() []container {
	var out []container
	for i, c := range w.spec.InitContainers {
		out = append(out, container{"initContainers", i, c.Name, c.Image})
	}
	for i, c := range w.spec.Containers {
		out = append(out, container{"containers", i, c.Name, c.Image})
	}
	for i, c := range w.spec.EphemeralContainers {
		out = append(out, container{"ephemeralContainers", i, c.Name, c.Image})
	}
	return out
}

// maxObject bounds the objects we decode (the API server's limit is 3 MiB).
const maxObject = 4 << 20

// decode reads the pod spec of a Pod or workload. ok is false for kinds that carry no pod spec.
// It reads only what the handlers use (metaJSON, specJSON): the rest of the object is scanned,
// not decoded, with the options the injector uses (case-sensitive names, as the API server).
func decode(kind string, raw []byte) (w *workload, ok bool, err error) {
	if len(raw) == 0 {
		return nil, false, nil
	}
	if len(raw) > maxObject {
		return nil, false, fmt.Errorf("imageadmission: object larger than %d bytes", maxObject)
	}
	type template struct {
		Spec specJSON `json:"spec"`
	}
	var meta metaJSON
	var spec specJSON
	w = &workload{}
	switch kind {
	case "Pod":
		var o struct {
			Metadata *metaJSON `json:"metadata"`
			Spec     *specJSON `json:"spec"`
		}
		o.Metadata, o.Spec = &meta, &spec
		err = json.Unmarshal(raw, &o, inject.DecodeOptions)
		w.specPath = "/spec"
	case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "ReplicationController":
		var o struct {
			Metadata *metaJSON `json:"metadata"`
			Spec     struct {
				Template template `json:"template"`
			} `json:"spec"`
		}
		o.Metadata = &meta
		err = json.Unmarshal(raw, &o, inject.DecodeOptions)
		spec, w.specPath = o.Spec.Template.Spec, "/spec/template/spec"
	case "CronJob":
		var o struct {
			Metadata *metaJSON `json:"metadata"`
			Spec     struct {
				JobTemplate struct {
					Spec struct {
						Template template `json:"template"`
					} `json:"spec"`
				} `json:"jobTemplate"`
			} `json:"spec"`
		}
		o.Metadata = &meta
		err = json.Unmarshal(raw, &o, inject.DecodeOptions)
		spec, w.specPath = o.Spec.JobTemplate.Spec.Template.Spec, "/spec/jobTemplate/spec/template/spec"
	default:
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("imageadmission: decoding %s: %w", kind, err)
	}
	w.meta, w.spec = meta.objectMeta(), spec.podSpec()
	return w, true, nil
}

// metaJSON is what the handlers read of an object's metadata.
type metaJSON struct {
	Name              string                  `json:"name"`
	GenerateName      string                  `json:"generateName"`
	UID               types.UID               `json:"uid"`
	DeletionTimestamp *metav1.Time            `json:"deletionTimestamp"`
	OwnerReferences   []metav1.OwnerReference `json:"ownerReferences"`
}

func (m *metaJSON) objectMeta() metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: m.Name, GenerateName: m.GenerateName, UID: m.UID,
		DeletionTimestamp: m.DeletionTimestamp, OwnerReferences: m.OwnerReferences}
}

// specJSON is what the handlers read of a pod spec: images, pull secrets, service account.
type specJSON struct {
	InitContainers      []imageJSON                   `json:"initContainers"`
	Containers          []imageJSON                   `json:"containers"`
	EphemeralContainers []imageJSON                   `json:"ephemeralContainers"`
	ImagePullSecrets    []corev1.LocalObjectReference `json:"imagePullSecrets"`
	ServiceAccountName  string                        `json:"serviceAccountName"`
}

type imageJSON struct {
	Name  string `json:"name"`
	Image string `json:"image"`
}

func (s *specJSON) podSpec() corev1.PodSpec {
	ps := corev1.PodSpec{ImagePullSecrets: s.ImagePullSecrets, ServiceAccountName: s.ServiceAccountName}
	for _, c := range s.InitContainers {
		ps.InitContainers = append(ps.InitContainers, corev1.Container{Name: c.Name, Image: c.Image})
	}
	for _, c := range s.Containers {
		ps.Containers = append(ps.Containers, corev1.Container{Name: c.Name, Image: c.Image})
	}
	for _, c := range s.EphemeralContainers {
		ps.EphemeralContainers = append(ps.EphemeralContainers, corev1.EphemeralContainer{
			EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: c.Name, Image: c.Image}})
	}
	return ps
}
