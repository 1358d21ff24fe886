package imageadmission

import (
	"encoding/json"
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
func decode(kind string, raw []byte) (w *workload, ok bool, err error) {
	if len(raw) == 0 {
		return nil, false, nil
	}
	if len(raw) > maxObject {
		return nil, false, fmt.Errorf("imageadmission: object larger than %d bytes", maxObject)
	}
	type template struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
		Spec     corev1.PodSpec    `json:"spec"`
	}
	w = &workload{}
	switch kind {
	case "Pod":
		var o struct {
			Metadata metav1.ObjectMeta `json:"metadata"`
			Spec     corev1.PodSpec    `json:"spec"`
		}
		err = json.Unmarshal(raw, &o)
		w.meta, w.spec, w.specPath = o.Metadata, o.Spec, "/spec"
	case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "ReplicationController":
		var o struct {
			Metadata metav1.ObjectMeta `json:"metadata"`
			Spec     struct {
				Template template `json:"template"`
			} `json:"spec"`
		}
		err = json.Unmarshal(raw, &o)
		w.meta, w.spec, w.specPath = o.Metadata, o.Spec.Template.Spec, "/spec/template/spec"
	case "CronJob":
		var o struct {
			Metadata metav1.ObjectMeta `json:"metadata"`
			Spec     struct {
				JobTemplate struct {
					Spec struct {
						Template template `json:"template"`
					} `json:"spec"`
				} `json:"jobTemplate"`
			} `json:"spec"`
		}
		err = json.Unmarshal(raw, &o)
		w.meta, w.spec, w.specPath = o.Metadata, o.Spec.JobTemplate.Spec.Template.Spec, "/spec/jobTemplate/spec/template/spec"
	default:
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("imageadmission: decoding %s: %w", kind, err)
	}
	return w, true, nil
}
