package inject

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
)

// FuzzMutate: no pod makes Mutate panic; every patch applies to the pod's JSON, the result
// still decodes as a Pod, and mutating it again is a no-op.
func FuzzMutate(f *testing.F) {
	for _, tc := range goldenCases() {
		b, _ := json.Marshal(tc.pod)
		f.Add(b, tc.ns.Labels[LabelInject] == NamespaceEnabled)
	}
	f.Add([]byte(`{"metadata":{"annotations":{"seal.dev/workload":"w"}},"spec":{"containers":[{"name":"a","env":[],"volumeMounts":[]}],"initContainers":[],"volumes":[]}}`), true)
	f.Add([]byte(`{"metadata":{"labels":{"seal.dev/inject":"true"},"annotations":{"seal.dev/workload":"w","seal.dev/egg":"image:/e","seal.dev/rotate":"true"}},"spec":{"containers":[{"name":"a~/b"}]}}`), false)
	f.Add([]byte(`{"metadata":{"annotations":{"seal.dev/workload":"w","seal.dev/route-hosts":"a.b, c.d","seal.dev/federates-with":"x.y"}},"spec":{"containers":[]}}`), true)
	f.Fuzz(func(t *testing.T, podJSON []byte, enabled bool) {
		var p corev1.Pod
		if err := json.Unmarshal(podJSON, &p); err != nil {
			return
		}
		ns := Namespace{Name: "shop"}
		if enabled {
			ns.Labels = map[string]string{LabelInject: NamespaceEnabled}
		}
		cfg := testConfig
		res, err := Mutate(&p, ns, &cfg)
		if err != nil {
			if !errors.Is(err, ErrRefused) {
				t.Fatalf("error is not a refusal: %v", err)
			}
			if !strings.Contains(err.Error(), "fix:") {
				t.Fatalf("refusal without a fix: %v", err)
			}
			return
		}
		if res.Patch == nil {
			if res.Skipped == "" {
				t.Fatal("no patch and no skip reason")
			}
			return
		}
		out, _ := apply(t, &p, res.Patch)
		again, err := Mutate(out, ns, &cfg)
		if err != nil || again.Patch != nil {
			t.Fatalf("second Mutate = %v, %s; want a no-op", err, again.Patch)
		}
	})
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "plain", `q"b\`, "ctl\x00\x1f\n\t\r", "<&>", "ünï", "bad\xffutf8", "\u2028\u2029"} {
		got := string(appendString(nil, s))
		want, _ := json.Marshal(s)
		if got != string(want) {
			t.Errorf("appendString(%q) = %s, want %s", s, got, want)
		}
	}
}

func TestPointerEscape(t *testing.T) {
	for in, want := range map[string]string{"seal.dev/status": "seal.dev~1status", "a~b/c": "a~0b~1c", "plain": "plain"} {
		if got := pointerEscape(in); got != want {
			t.Errorf("pointerEscape(%q) = %q, want %q", in, got, want)
		}
	}
}

func ExampleMutate() {
	cfg := Config{Image: "ghcr.io/seal-dev/seal-init:v0.1.0", TrustDomain: "prod.example.org"}.WithDefaults()
	pod := &corev1.Pod{}
	pod.Annotations = map[string]string{AnnotationWorkload: "payments", AnnotationRotate: "maybe"}
	pod.Spec.Containers = []corev1.Container{{Name: "app", Image: "shop/app:1"}}
	_, err := Mutate(pod, Namespace{Name: "shop", Labels: map[string]string{LabelInject: NamespaceEnabled}}, &cfg)
	fmt.Println(err)
	delete(pod.Annotations, AnnotationRotate)
	res, _ := Mutate(pod, Namespace{Name: "shop", Labels: map[string]string{LabelInject: NamespaceEnabled}}, &cfg)
	fmt.Println(res.Status.InitContainers, res.Status.Mounted)
	// Output:
	// seal: seal.dev/rotate="maybe" is not a known value; fix: write "true" (renew the certificate in a native sidecar) or "false"
	// [seal-init] [app]
}

// TestAppendContainerMatchesStruct: the hand-written JSON of every added container decodes to
// exactly the container Mutate meant.
func TestAppendContainerMatchesStruct(t *testing.T) {
	cfg := testConfig
	for _, tc := range goldenCases() {
		s, err := parseSettings(tc.pod.Annotations)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range initContainers(tc.pod, &s, &cfg) {
			var got corev1.Container
			if err := json.Unmarshal(appendContainer(nil, &c, &cfg), &got); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if !equality.Semantic.DeepEqual(got, c) {
				t.Errorf("%s: container %s\ngot  %+v\nwant %+v", tc.name, c.Name, got, c)
			}
		}
	}
}
