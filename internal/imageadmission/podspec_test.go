package imageadmission

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sjson "sigs.k8s.io/json"
)

var decodeKinds = []string{"Pod", "Deployment", "CronJob"}

// fullDecode is decode as it was: the whole ObjectMeta and PodSpec, read as the API server does.
func fullDecode(kind string, raw []byte) (metav1.ObjectMeta, corev1.PodSpec, error) {
	type template struct {
		Spec corev1.PodSpec `json:"spec"`
	}
	switch kind {
	case "Pod":
		var o struct {
			Metadata metav1.ObjectMeta `json:"metadata"`
			Spec     corev1.PodSpec    `json:"spec"`
		}
		err := k8sjson.UnmarshalCaseSensitivePreserveInts(raw, &o)
		return o.Metadata, o.Spec, err
	case "Deployment":
		var o struct {
			Metadata metav1.ObjectMeta `json:"metadata"`
			Spec     struct {
				Template template `json:"template"`
			} `json:"spec"`
		}
		err := k8sjson.UnmarshalCaseSensitivePreserveInts(raw, &o)
		return o.Metadata, o.Spec.Template.Spec, err
	default:
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
		err := k8sjson.UnmarshalCaseSensitivePreserveInts(raw, &o)
		return o.Metadata, o.Spec.JobTemplate.Spec.Template.Spec, err
	}
}

// view is every field the handlers read of a workload.
func view(meta metav1.ObjectMeta, spec corev1.PodSpec) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name=%q gen=%q uid=%q deleting=%v\n", meta.Name, meta.GenerateName, meta.UID, meta.DeletionTimestamp != nil)
	for _, o := range meta.OwnerReferences {
		fmt.Fprintf(&b, "owner %q %q %q %q %v\n", o.APIVersion, o.Kind, o.Name, o.UID, o.Controller != nil && *o.Controller)
	}
	w := workload{spec: spec}
	for _, c := range w.containers() {
		fmt.Fprintf(&b, "%s[%d] %q %q\n", c.field, c.index, c.name, c.image)
	}
	fmt.Fprintf(&b, "pullSecrets=%q sa=%q\n", spec.ImagePullSecrets, spec.ServiceAccountName)
	return b.String()
}

// FuzzDecodeWorkload: whenever the API server's decoder reads the object, decode reads it too
// and agrees on every field /pin and /verify use (images, pull secrets, service account, owner).
func FuzzDecodeWorkload(f *testing.F) {
	pod := `{"metadata":{"name":"p","uid":"u","deletionTimestamp":null,"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"r","uid":"x","controller":true}]},` +
		`"spec":{"serviceAccountName":"sa","imagePullSecrets":[{"name":"reg"}],"initContainers":[{"name":"i","image":"busybox"}],` +
		`"containers":[{"name":"a","image":"shop/app:1","env":[{"name":"X","value":"y"}]}],"ephemeralContainers":[{"name":"dbg","image":"debug:1"}]}}`
	f.Add(uint8(0), []byte(pod))
	f.Add(uint8(1), []byte(`{"metadata":{"generateName":"d-","deletionTimestamp":"2026-01-01T00:00:00Z"},"spec":{"template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"a","image":"x","image":"y"}]}}}}`))
	f.Add(uint8(2), []byte(`{"spec":{"jobTemplate":{"spec":{"template":{"spec":{"containers":[{"name":"a","Image":"x\xff"}],"imagePullSecrets":[{}]}}}}}}`))
	f.Fuzz(func(t *testing.T, k uint8, raw []byte) {
		kind := decodeKinds[int(k)%len(decodeKinds)]
		meta, spec, err := fullDecode(kind, raw)
		if err != nil || len(raw) == 0 {
			return // the API server would not have sent it
		}
		w, ok, err := decode(kind, raw)
		if err != nil || !ok {
			t.Fatalf("decode(%s) = %v, %v; the full decode read it\n%s", kind, ok, err, raw)
		}
		if got, want := view(w.meta, w.spec), view(meta, spec); got != want {
			t.Fatalf("decode(%s) differs\ngot  %s\nwant %s", kind, got, want)
		}
		if !equality.Semantic.DeepEqual(w.spec.ImagePullSecrets, spec.ImagePullSecrets) {
			t.Fatalf("pull secrets %v, want %v", w.spec.ImagePullSecrets, spec.ImagePullSecrets)
		}
	})
}
