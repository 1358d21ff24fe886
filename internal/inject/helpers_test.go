package inject

import (
	"encoding/json"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var testConfig = Config{
	Image:       "registry.example.com/seal/seal-init:v0.1.0",
	PullPolicy:  corev1.PullIfNotPresent,
	TrustDomain: "prod.example.org",
	Namespace:   "seal-system",
	Version:     "v0.1.0",
}.WithDefaults()

var enabledNS = Namespace{Name: "shop", Labels: map[string]string{LabelInject: NamespaceEnabled}}

// pod builds a pod with the given annotations and containers (name=image pairs).
func pod(ann map[string]string, containers ...string) *corev1.Pod {
	p := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{GenerateName: "web-", Namespace: "shop", Annotations: ann, Labels: map[string]string{"app": "web"}},
	}
	p.Spec.ServiceAccountName = "default" // as the API server's ServiceAccount admission sets it
	for i := 0; i+1 < len(containers); i += 2 {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: containers[i], Image: containers[i+1]})
	}
	return p
}

// apply applies patch to pod's JSON and decodes the result strictly.
func apply(t testing.TB, p *corev1.Pod, patch []byte) (*corev1.Pod, []byte) {
	t.Helper()
	doc, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	dp, err := jsonpatch.DecodePatch(patch)
	if err != nil {
		t.Fatalf("patch does not decode: %v\n%s", err, patch)
	}
	out, err := dp.Apply(doc)
	if err != nil {
		t.Fatalf("patch does not apply: %v\npatch: %s\npod: %s", err, patch, doc)
	}
	var got corev1.Pod
	dec := json.NewDecoder(bytesReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("patched pod does not decode: %v\n%s", err, out)
	}
	return &got, out
}
