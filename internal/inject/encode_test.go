package inject

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// shape is one way Mutate builds its containers: the pod's annotations and security context,
// the app container's image and pull policy, and the webhook's configuration.
type shape struct {
	name string
	pod  *corev1.Pod
	cfg  Config
}

// shapes is every combination of what changes the containers Mutate adds: Egg source (default
// Secret, named Secret and key, file in the app image), rotation (probes, restart policy),
// route hosts and federation (args), fsGroup (--gid), the seal-init pull policy and resources
// from the configuration, the app container's pull policy, and strings JSON must escape.
func shapes() []shape {
	var out []shape
	eggs := []string{"", "secret:payments-db-egg/token", "image:/etc/seal/egg"}
	resources := []corev1.ResourceRequirements{{}, {
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")},
		Claims:   []corev1.ResourceClaim{{Name: "gpu"}},
	}}
	for _, egg := range eggs {
		for _, rotate := range []bool{false, true} {
			for _, lists := range []bool{false, true} {
				for _, fsGroup := range []bool{false, true} {
					for _, pull := range []corev1.PullPolicy{"", corev1.PullIfNotPresent} {
						for ri, res := range resources {
							for _, odd := range []bool{false, true} {
								ann := map[string]string{AnnotationWorkload: "payments"}
								if egg != "" {
									ann[AnnotationEgg] = egg
								}
								if rotate {
									ann[AnnotationRotate] = "true"
								}
								if lists {
									ann[AnnotationRouteHosts] = "db.apps.example.org,api.apps.example.org"
									ann[AnnotationFederatesWith] = "partner.example.org"
								}
								appImage, binary := "shop/app:1", ""
								if odd {
									appImage, binary = "shop/app:<1&2>\u2028ü", "/opt/seal init/\"bin\""
								}
								p := pod(ann, "app", appImage)
								if odd {
									p.Spec.Containers[0].ImagePullPolicy = corev1.PullAlways
								}
								if fsGroup {
									p.Spec.SecurityContext = &corev1.PodSecurityContext{FSGroup: i64(2000)}
								}
								cfg := testConfig
								cfg.PullPolicy, cfg.Resources, cfg.Binary = pull, res, binary
								out = append(out, shape{
									name: fmt.Sprintf("egg=%q/rotate=%v/lists=%v/fsGroup=%v/pull=%q/resources=%d/odd=%v", egg, rotate, lists, fsGroup, pull, ri, odd),
									pod:  p, cfg: cfg.WithDefaults(),
								})
							}
						}
					}
				}
			}
		}
	}
	return out
}

// sameJSON reports whether a and b are the same JSON value (key order aside).
func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, a)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b)
	}
	return reflect.DeepEqual(va, vb)
}

// TestAppendContainerIsContainerJSON: for every shape, each container Mutate adds encodes by
// hand to what encoding/json makes of the corev1.Container, so a field set in
// initContainers that appendContainer does not write fails here instead of vanishing from the
// patch.
func TestAppendContainerIsContainerJSON(t *testing.T) {
	for _, sh := range shapes() {
		s, err := parseSettings(sh.pod.Annotations)
		if err != nil {
			t.Fatalf("%s: %v", sh.name, err)
		}
		for _, c := range initContainers(sh.pod, &s, &sh.cfg) {
			got := appendContainer(nil, &c, &sh.cfg)
			want, err := json.Marshal(&c)
			if err != nil {
				t.Fatal(err)
			}
			if !sameJSON(t, got, want) {
				t.Errorf("%s: container %s\nappendContainer: %s\njson.Marshal:    %s", sh.name, c.Name, got, want)
			}
		}
	}
}

// TestAppendStatusIsStatusJSON: appendStatus writes exactly what json.Marshal writes, for the
// Status of every shape and for Status values generated from its type (each field zero, and
// each field set), so a new Status field cannot be dropped silently.
func TestAppendStatusIsStatusJSON(t *testing.T) {
	var sts []Status
	for _, sh := range shapes() {
		res, err := Mutate(sh.pod, enabledNS, &sh.cfg)
		if err != nil || res.Patch == nil {
			t.Fatalf("%s: Mutate = %v, %v; want a patch", sh.name, res.Skipped, err)
		}
		sts = append(sts, res.Status)
	}
	sts = append(sts, Status{}, filledStatus(t, -1))
	for i := range reflect.TypeFor[Status]().NumField() {
		sts = append(sts, filledStatus(t, i))
	}
	for _, st := range sts {
		want, err := json.Marshal(&st)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendStatus(nil, &st); string(got) != string(want) {
			t.Errorf("appendStatus(%+v)\n got %s\nwant %s", st, got, want)
		}
	}
}

// filledStatus is a Status with every field set to a value JSON must escape, except field zero
// (-1: none).
func filledStatus(t *testing.T, zero int) Status {
	var st Status
	v := reflect.ValueOf(&st).Elem()
	for i := range v.NumField() {
		if i == zero {
			continue
		}
		f, name := v.Field(i), v.Type().Field(i).Name
		switch f.Kind() {
		case reflect.String:
			f.SetString(name + ` <&> "\ ` + "\u2028")
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Slice:
			if f.Type().Elem().Kind() != reflect.String {
				t.Fatalf("Status.%s: a %s; teach filledStatus (and appendStatus) this type", name, f.Type())
			}
			f.Set(reflect.ValueOf([]string{name, "b<&>"}))
		default:
			t.Fatalf("Status.%s: a %s; teach filledStatus (and appendStatus) this type", name, f.Type())
		}
	}
	return st
}

// FuzzAppendContainer: for any annotations and app image Mutate accepts, the hand-built
// container JSON is the corev1.Container's JSON.
func FuzzAppendContainer(f *testing.F) {
	f.Add("", "", "", "", "shop/app:1", int64(0))
	f.Add("image:/etc/seal/egg", "true", "a.example.org,b.example.org", "x.example.org", "shop/app:<1>", int64(2000))
	f.Add("secret:s/k", "false", "", "partner.org", "\u2028\xff", int64(-1))
	f.Fuzz(func(t *testing.T, egg, rotate, hosts, federates, image string, fsGroup int64) {
		ann := map[string]string{AnnotationWorkload: "payments", AnnotationEgg: egg, AnnotationRotate: rotate,
			AnnotationRouteHosts: hosts, AnnotationFederatesWith: federates}
		for k, v := range ann {
			if v == "" {
				delete(ann, k)
			}
		}
		p := pod(ann, "app", image)
		if fsGroup != 0 {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{FSGroup: &fsGroup}
		}
		s, err := parseSettings(p.Annotations)
		if err != nil {
			return
		}
		cfg := testConfig
		for _, c := range initContainers(p, &s, &cfg) {
			got := appendContainer(nil, &c, &cfg)
			want, err := json.Marshal(&c)
			if err != nil {
				t.Fatal(err)
			}
			if !sameJSON(t, got, want) {
				t.Fatalf("container %s\nappendContainer: %s\njson.Marshal:    %s", c.Name, got, want)
			}
		}
	})
}

// BenchmarkEncode compares the hand-built encoders with encoding/json on the containers and
// status of the rotating Secret-Egg shape (the largest secret-Egg container: args, env,
// probes, restart policy).
func BenchmarkEncode(b *testing.B) {
	p := pod(map[string]string{AnnotationWorkload: "payments", AnnotationRotate: "true",
		AnnotationRouteHosts: "db.apps.example.org"}, "app", "shop/app:1")
	cfg := testConfig
	s, err := parseSettings(p.Annotations)
	if err != nil {
		b.Fatal(err)
	}
	c := initContainers(p, &s, &cfg)[0]
	res, err := Mutate(p, enabledNS, &cfg)
	if err != nil {
		b.Fatal(err)
	}
	st := res.Status
	b.Run("container/hand-built", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = appendContainer(make([]byte, 0, 1024), &c, &cfg)
		}
	})
	b.Run("container/json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(&c); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("status/hand-built", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = appendStatus(make([]byte, 0, 384), &st)
		}
	})
	b.Run("status/json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(&st); err != nil {
				b.Fatal(err)
			}
		}
	})
}
