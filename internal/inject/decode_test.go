package inject

import (
	"bytes"
	stdjson "encoding/json"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	k8sjson "sigs.k8s.io/json"

	"github.com/seal-dev/seal/internal/jsonscan"
)

// issuePod is the 76 KB pod of issue 17: one container with 1,500 env vars.
func issuePod() *corev1.Pod {
	p := pod(map[string]string{AnnotationWorkload: "payments"}, "app", "shop/app:1")
	for i := range 1500 {
		p.Spec.Containers[0].Env = append(p.Spec.Containers[0].Env, corev1.EnvVar{
			Name: fmt.Sprintf("SETTING_%04d", i), Value: strings.Repeat("v", 20),
		})
	}
	return p
}

// mutationView is every field Mutate (and the webhook's Events) read of a pod: a full decode
// and DecodePod must agree on it.
func mutationView(p *corev1.Pod) *corev1.Pod {
	v := &PodJSON{}
	v.Metadata.Name, v.Metadata.GenerateName, v.Metadata.Namespace, v.Metadata.UID = p.Name, p.GenerateName, p.Namespace, p.UID
	v.Metadata.Labels, v.Metadata.Annotations = p.Labels, p.Annotations
	for _, o := range p.OwnerReferences {
		v.Metadata.OwnerReferences = append(v.Metadata.OwnerReferences, ownerJSON{APIVersion: o.APIVersion, Kind: o.Kind, Name: o.Name, UID: o.UID, Controller: o.Controller})
	}
	conv := func(in []corev1.Container) []containerJSON {
		if in == nil {
			return nil
		}
		out := make([]containerJSON, len(in))
		for i, c := range in {
			out[i] = containerJSON{Name: c.Name, Image: c.Image, ImagePullPolicy: c.ImagePullPolicy}
			out[i].Env = nonEmptyList(len(c.Env) > 0)
			for _, m := range c.VolumeMounts {
				out[i].VolumeMounts = append(out[i].VolumeMounts, mountJSONField{Name: m.Name, MountPath: m.MountPath})
			}
			if c.VolumeMounts != nil && out[i].VolumeMounts == nil {
				out[i].VolumeMounts = []mountJSONField{}
			}
		}
		return out
	}
	v.Spec.InitContainers, v.Spec.Containers = conv(p.Spec.InitContainers), conv(p.Spec.Containers)
	for _, vol := range p.Spec.Volumes {
		v.Spec.Volumes = append(v.Spec.Volumes, volumeJSON{Name: vol.Name})
	}
	if p.Spec.Volumes != nil && v.Spec.Volumes == nil {
		v.Spec.Volumes = []volumeJSON{}
	}
	v.Spec.HostNetwork, v.Spec.ServiceAccountName = p.Spec.HostNetwork, p.Spec.ServiceAccountName
	if p.Spec.SecurityContext != nil {
		v.Spec.SecurityContext = &podSecurityJSON{FSGroup: p.Spec.SecurityContext.FSGroup}
	}
	return v.Pod()
}

// FuzzDecodePod: whenever the API server's decoder (sigs.k8s.io/json, case-sensitive) reads
// the JSON as a Pod, DecodePod reads it too, agrees on every field Mutate reads, and Mutate
// answers the same (patch, skip or refusal) from both.
func FuzzDecodePod(f *testing.F) {
	for _, tc := range goldenCases() {
		b, _ := stdjson.Marshal(tc.pod)
		f.Add(b, tc.ns.Labels[LabelInject] == NamespaceEnabled)
	}
	b, _ := stdjson.Marshal(issuePod())
	f.Add(b, true)
	f.Add([]byte(`{"metadata":{"annotations":{"seal.dev/workload":"w","seal.dev/workload":"v"},"Labels":{"seal.dev/inject":"true"}},"spec":{"containers":[{"name":"a","env":[],"volumeMounts":[{"mountPath":"/var/run/seal/"}]}],"initContainers":null,"volumes":[]}}`), true)
	f.Add([]byte(`{"metadata":{"labels":{"seal.dev/inject":"true"},"annotations":{"seal.dev/workload":"w","seal.dev/egg":"image:/e","kubectl.kubernetes.io/default-container":"b"}},"spec":{"securityContext":{"fsGroup":7},"containers":[{"name":"a~/b","image":"x\xff"},{"name":"b","image":"y","imagePullPolicy":"Always","env":[{"name":"X"}]}]}}`), false)
	f.Add([]byte(`{"metadata":{"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"r","uid":"u","controller":true}],"annotations":{"seal.dev/workload":"w"}},"spec":{"hostNetwork":true,"serviceAccountName":"sa","containers":[{"name":"\u0061"}],"volumes":[{"name":"seal"}]}}`), true)
	// PodInto writes every input over a pod that held a full one: nothing of it may show.
	var earlier PodJSON
	fullJSON, _ := stdjson.Marshal(goldenCases()[len(goldenCases())-1].pod)
	fullJSON = bytes.Replace(fullJSON, []byte(`"spec":{`), []byte(`"spec":{"volumes":[{"name":"a"},{"name":"b"}],"initContainers":[{"name":"i","env":[{"name":"E"}],"volumeMounts":[{"name":"a","mountPath":"/a"},{"name":"b","mountPath":"/b"}]}],`), 1)
	if err := ReadPod(jsonscan.New(fullJSON), &earlier); err != nil || len(earlier.Spec.Volumes) != 2 {
		f.Fatalf("the full pod: %v %s", err, fullJSON)
	}
	f.Fuzz(func(t *testing.T, podJSON []byte, enabled bool) {
		var full corev1.Pod
		if err := k8sjson.UnmarshalCaseSensitivePreserveInts(podJSON, &full); err != nil {
			return // the API server would not have sent it
		}
		part, err := DecodePod(podJSON)
		if err != nil {
			t.Fatalf("DecodePod: %v; the full decode read it\n%s", err, podJSON)
		}
		if want := mutationView(&full); !equality.Semantic.DeepEqual(part, want) {
			t.Fatalf("fields Mutate reads differ\npartial %+v\nfull    %+v", part, want)
		}
		var pj PodJSON
		if err := ReadPod(jsonscan.New(podJSON), &pj); err != nil {
			t.Fatal(err)
		}
		var reused corev1.Pod
		earlier.PodInto(&reused)
		pj.PodInto(&reused)
		if !reflect.DeepEqual(&reused, part) {
			t.Fatalf("PodInto over an earlier pod differs from Pod\nreused %+v\nfresh  %+v", &reused, part)
		}
		ns := Namespace{Name: "shop"}
		if enabled {
			ns.Labels = map[string]string{LabelInject: NamespaceEnabled}
		}
		cfg := testConfig
		gotRes, gotErr := Mutate(part, ns, &cfg)
		wantRes, wantErr := Mutate(&full, ns, &cfg)
		// A pooled buffer: room to build in place, an earlier patch's bytes past its length.
		used := append(make([]byte, 0, 64<<10), "kept"...)
		copy(used[4:cap(used)], bytes.Repeat([]byte("old patch "), 6<<10))
		appended, _ := MutateAppend(used, part, ns, &cfg)
		if string(appended.Patch) != string(gotRes.Patch) || string(used) != "kept" {
			t.Fatalf("MutateAppend's patch differs from Mutate's, or dst's bytes changed (%q)\n%s\n%s", used, appended.Patch, gotRes.Patch)
		}
		if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || string(gotRes.Patch) != string(wantRes.Patch) ||
			gotRes.Skipped != wantRes.Skipped || fmt.Sprint(gotRes.Warnings) != fmt.Sprint(wantRes.Warnings) {
			t.Fatalf("Mutate differs\npartial %v %s %q\nfull    %v %s %q", gotErr, gotRes.Patch, gotRes.Skipped, wantErr, wantRes.Patch, wantRes.Skipped)
		}
	})
}

// TestDecodePodNotAPod: a body that is not a Pod's JSON is an ErrNotPod naming the problem.
func TestDecodePodNotAPod(t *testing.T) {
	for name, in := range map[string]string{
		"array":          `[]`,
		"containers str": `{"spec":{"containers":"app"}}`,
		"fsGroup string": `{"spec":{"securityContext":{"fsGroup":"7"}}}`,
		"truncated":      `{"metadata":{"name":"a"`,
	} {
		if _, err := DecodePod([]byte(in)); err == nil || !strings.Contains(err.Error(), "not a Pod") {
			t.Errorf("%s: DecodePod(%s) error = %v, want ErrNotPod", name, in, err)
		}
	}
}

// BenchmarkDecodeLargePod compares ways to read the 76 KB pod (docs/webhook.md has the figures).
func BenchmarkDecodeLargePod(b *testing.B) {
	raw, _ := stdjson.Marshal(issuePod())
	b.Logf("pod JSON: %d bytes", len(raw))
	b.Run("encoding-json-full-pod", func(b *testing.B) {
		defer threadCPU(b)()
		b.ReportAllocs()
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			var p corev1.Pod
			if err := stdjson.Unmarshal(raw, &p); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json-partial", func(b *testing.B) {
		defer threadCPU(b)()
		b.ReportAllocs()
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			var p podJSONv1
			if err := stdjson.Unmarshal(raw, &p); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json-v2-partial", func(b *testing.B) {
		defer threadCPU(b)()
		b.ReportAllocs()
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			var p PodJSON
			if err := json.Unmarshal(raw, &p, DecodeOptions); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("jsonscan", func(b *testing.B) {
		defer threadCPU(b)()
		b.ReportAllocs()
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			if _, err := DecodePod(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// podJSONv1 is PodJSON for encoding/json (which cannot use nonEmptyList's UnmarshalJSONFrom).
type podJSONv1 struct {
	Metadata struct {
		Name, GenerateName, Namespace string
		Labels, Annotations           map[string]string
		OwnerReferences               []ownerJSON
	} `json:"metadata"`
	Spec struct {
		InitContainers, Containers []struct {
			Name, Image, ImagePullPolicy string
			Env                          []struct{}       `json:"env"`
			VolumeMounts                 []mountJSONField `json:"volumeMounts"`
		}
		Volumes         []volumeJSON     `json:"volumes"`
		SecurityContext *podSecurityJSON `json:"securityContext"`
	} `json:"spec"`
}

// UnmarshalJSONFrom lets go-json-experiment/json read a PodJSON, for BenchmarkDecodeLargePod's
// comparison: it scans the array without decoding its elements.
func (l *nonEmptyList) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	v, err := dec.ReadValue()
	if err != nil {
		return err
	}
	switch v.Kind() {
	case 'n':
		*l = false
	case '[':
		rest := bytes.TrimLeft(v[1:], " \t\r\n")
		*l = len(rest) > 0 && rest[0] != ']'
	default:
		return fmt.Errorf("inject: want a JSON array, got %s", v.Kind())
	}
	return nil
}

// threadCPU reports the CPU time per op of the benchmark's thread (locked to it), which the
// other load on a shared machine disturbs less than the wall time.
func threadCPU(b *testing.B) func() {
	runtime.LockOSThread()
	cpu := func() time.Duration {
		var ru syscall.Rusage
		_ = syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	start := cpu()
	return func() {
		b.ReportMetric(float64((cpu()-start).Microseconds())/float64(b.N), "thread-cpu-µs/op")
		runtime.UnlockOSThread()
	}
}
