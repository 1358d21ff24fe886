package inject

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json")

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

func i64(v int64) *int64 { return &v }

// goldenCases are pods that get injected; testdata/<name>.golden.json is the pod after the patch.
func goldenCases() []struct {
	name string
	ns   Namespace
	pod  *corev1.Pod
} {
	threeContainers := pod(map[string]string{AnnotationWorkload: "payments"}, "app", "shop/app:1", "proxy", "envoy:1", "log", "fluent-bit:2")
	threeContainers.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "MODE", Value: "prod"}}
	threeContainers.Spec.Containers[1].VolumeMounts = []corev1.VolumeMount{{Name: "cfg", MountPath: "/etc/envoy"}}
	threeContainers.Spec.Volumes = []corev1.Volume{{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "envoy"}}}}}

	explicit := pod(map[string]string{
		AnnotationWorkload:      "payments",
		AnnotationPeer:          "db",
		AnnotationFederatesWith: "partner.example.org, staging.example.org",
		AnnotationRouteHosts:    "db.apps.example.org",
		AnnotationEgg:           "secret:payments-db-egg/token",
	}, "db", "postgres:17")
	explicit.Labels[LabelInject] = "true"
	explicit.Spec.InitContainers = []corev1.Container{{Name: "migrate", Image: "shop/migrate:1", Env: []corev1.EnvVar{{Name: "A", Value: "b"}}}}
	explicit.Spec.SecurityContext = &corev1.PodSecurityContext{FSGroup: i64(2000)}

	rotate := pod(map[string]string{AnnotationWorkload: "payments", AnnotationRotate: "true"}, "app", "shop/app:1")

	image := pod(map[string]string{AnnotationWorkload: "payments", AnnotationEgg: "image:/etc/seal/egg",
		"kubectl.kubernetes.io/default-container": "app"}, "sidecar", "busybox:1", "app", "shop/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	image.Spec.Containers[1].ImagePullPolicy = corev1.PullAlways
	image.Spec.InitContainers = []corev1.Container{{Name: "wait", Image: "busybox:1"}}

	// A hostNetwork pod renewing its certificate, its Egg baked into the app image: the probes
	// run the copied seal-init, as the sidecar's command does.
	rotateImage := pod(map[string]string{AnnotationWorkload: "payments", AnnotationRotate: "true", AnnotationEgg: "image:/etc/seal/egg"},
		"app", "shop/app:1")
	rotateImage.Spec.HostNetwork = true

	attestPod := pod(map[string]string{AnnotationWorkload: "vault", AnnotationAttest: "tpm2"}, "app", "shop/vault:1")

	return []struct {
		name string
		ns   Namespace
		pod  *corev1.Pod
	}{
		{"attest-tpm2", enabledNS, attestPod},
		{"namespace-enabled-3-containers", enabledNS, threeContainers},
		{"explicit-opt-in-peer-federation-routes", Namespace{Name: "shop"}, explicit},
		{"rotate-native-sidecar", enabledNS, rotate},
		{"egg-from-image", enabledNS, image},
		{"rotate-egg-from-image-host-network", enabledNS, rotateImage},
		{"secrets-off", enabledNS, pod(map[string]string{AnnotationWorkload: "payments", AnnotationSecrets: "false"}, "app", "shop/app:1")},
	}
}

func TestMutateGolden(t *testing.T) {
	for _, tc := range goldenCases() {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig
			res, err := Mutate(tc.pod, tc.ns, &cfg)
			if err != nil {
				t.Fatalf("Mutate: %v", err)
			}
			if res.Patch == nil {
				t.Fatalf("Mutate skipped the pod (%s), want injection", res.Skipped)
			}
			// The golden file is the patched pod as the API server would store it: decoded and
			// marshalled again, so key order inside the patch does not matter.
			got, _ := apply(t, tc.pod, res.Patch)
			b, err := json.MarshalIndent(got, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			pretty := bytes.NewBuffer(append(b, '\n'))
			golden := filepath.Join("testdata", tc.name+".golden.json")
			if *update {
				if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(pretty.Bytes(), want) {
				t.Errorf("patched pod differs from %s (go test -update rewrites it)\ngot:\n%s", golden, pretty.Bytes())
			}
		})
	}
}

// TestMutateIdempotent: a mutated pod, admitted again (reinvocation), is left alone.
func TestMutateIdempotent(t *testing.T) {
	for _, tc := range goldenCases() {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig
			res, err := Mutate(tc.pod, tc.ns, &cfg)
			if err != nil {
				t.Fatal(err)
			}
			out, _ := apply(t, tc.pod, res.Patch)
			again, err := Mutate(out, tc.ns, &cfg)
			if err != nil {
				t.Fatalf("second Mutate: %v", err)
			}
			if again.Patch != nil || again.Skipped != SkipAlreadyInjected {
				t.Errorf("second Mutate = skipped %q patch %s, want skipped %q and no patch", again.Skipped, again.Patch, SkipAlreadyInjected)
			}
		})
	}
}

// TestMutateInjects checks what a user checks on an injected pod, independent of golden files.
func TestMutateInjects(t *testing.T) {
	cfg := testConfig
	p := pod(map[string]string{AnnotationWorkload: "payments", AnnotationPeer: "api"}, "app", "shop/app:1", "side", "side:1")
	p.Spec.InitContainers = []corev1.Container{{Name: "first", Image: "busybox"}}
	res, err := Mutate(p, enabledNS, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := apply(t, p, res.Patch)
	if n := got.Spec.InitContainers[0].Name; n != InitContainerName {
		t.Errorf("first init container = %q, want %q", n, InitContainerName)
	}
	ic := got.Spec.InitContainers[0]
	sc := ic.SecurityContext
	if sc == nil || !*sc.RunAsNonRoot || !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation || sc.Capabilities.Drop[0] != "ALL" || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("seal-init security context = %+v, want restricted", sc)
	}
	if e := ic.Env[0]; e.Name != EggEnv || e.ValueFrom.SecretKeyRef.Name != "seal-egg-payments" || e.ValueFrom.SecretKeyRef.Key != "egg" {
		t.Errorf("egg env = %+v, want SEAL_EGG from secret seal-egg-payments/egg", e)
	}
	if v := got.Spec.Volumes[len(got.Spec.Volumes)-2]; v.Name != VolumeName || v.EmptyDir == nil || v.EmptyDir.Medium != corev1.StorageMediumMemory {
		t.Errorf("volume = %+v, want memory emptyDir %q", v, VolumeName)
	}
	wantEnv := map[string]string{"SEAL_DIR": MountPath, "SEAL_WORKLOAD": "payments", "SEAL_PEER": "api",
		"SEAL_SPIFFE_ID": "spiffe://prod.example.org/workload/payments/peer/api", "SEAL_TRUST_DOMAIN": "prod.example.org"}
	for _, c := range append(got.Spec.Containers, got.Spec.InitContainers[1]) {
		found := false
		for _, m := range c.VolumeMounts {
			if m.Name == VolumeName && m.MountPath == MountPath && m.ReadOnly {
				found = true
			}
		}
		if !found {
			t.Errorf("container %s has no read-only %s mount: %+v", c.Name, MountPath, c.VolumeMounts)
		}
		env := map[string]string{}
		for _, e := range c.Env {
			env[e.Name] = e.Value
		}
		for k, v := range wantEnv {
			if env[k] != v {
				t.Errorf("container %s env %s = %q, want %q", c.Name, k, env[k], v)
			}
		}
	}
	var st Status
	if err := json.Unmarshal([]byte(got.Annotations[AnnotationStatus]), &st); err != nil {
		t.Fatalf("status annotation: %v", err)
	}
	if st.Workload != "payments" || st.Peer != "api" || st.Version != "v0.1.0" || len(st.Mounted) != 3 {
		t.Errorf("status = %+v", st)
	}
}

func TestMutateSkips(t *testing.T) {
	withLabel := func(p *corev1.Pod, v string) *corev1.Pod { p.Labels[LabelInject] = v; return p }
	ann := map[string]string{AnnotationWorkload: "payments"}
	tests := []struct {
		name string
		ns   Namespace
		pod  *corev1.Pod
		want SkipReason
	}{
		{"kube-system even when labelled", Namespace{Name: "kube-system", Labels: enabledNS.Labels}, withLabel(pod(ann, "a", "b"), "true"), SkipSystemNamespace},
		{"kube-public", Namespace{Name: "kube-public"}, withLabel(pod(ann, "a", "b"), "true"), SkipSystemNamespace},
		{"kube-node-lease", Namespace{Name: "kube-node-lease"}, withLabel(pod(ann, "a", "b"), "true"), SkipSystemNamespace},
		{"webhook's own namespace", Namespace{Name: "seal-system", Labels: enabledNS.Labels}, pod(ann, "a", "b"), SkipSystemNamespace},
		{"unlabelled namespace", Namespace{Name: "shop"}, pod(ann, "a", "b"), SkipNotSelected},
		{"namespace label not enabled", Namespace{Name: "shop", Labels: map[string]string{LabelInject: "true"}}, pod(ann, "a", "b"), SkipNotSelected},
		{"opted out in enabled namespace", enabledNS, withLabel(pod(ann, "a", "b"), "false"), SkipOptedOut},
		{"no workload in enabled namespace", enabledNS, pod(nil, "a", "b"), SkipNoWorkload},
		{"already injected", enabledNS, pod(map[string]string{AnnotationWorkload: "payments", AnnotationStatus: "{}"}, "a", "b"), SkipAlreadyInjected},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig
			res, err := Mutate(tc.pod, tc.ns, &cfg)
			if err != nil {
				t.Fatalf("Mutate: %v", err)
			}
			if res.Skipped != tc.want || res.Patch != nil {
				t.Errorf("Mutate = skipped %q patch %s, want skipped %q", res.Skipped, res.Patch, tc.want)
			}
		})
	}
}

func TestMutateRefusals(t *testing.T) {
	tests := []struct {
		name  string
		ann   map[string]string
		label string
		edit  func(*corev1.Pod)
		want  []string // substrings of the message
	}{
		{name: "opt-in without workload", label: "true", want: []string{"seal.dev/workload", "is required", "fix: add the annotation seal.dev/workload"}},
		{name: "bad pod label", ann: map[string]string{AnnotationWorkload: "w"}, label: "yes", want: []string{`label seal.dev/inject="yes"`, "fix:", `"true"`}},
		{name: "bad workload", ann: map[string]string{AnnotationWorkload: "Pay_ments"}, want: []string{`seal.dev/workload="Pay_ments"`, "not a valid workload name", "fix: use a DNS label"}},
		{name: "workload too long", ann: map[string]string{AnnotationWorkload: strings.Repeat("a", 64)}, want: []string{"seal.dev/workload=", "at most 63"}},
		{name: "bad peer", ann: map[string]string{AnnotationWorkload: "w", AnnotationPeer: "-db"}, want: []string{`seal.dev/peer="-db"`, "not a valid peer name", "fix:"}},
		{name: "empty peer", ann: map[string]string{AnnotationWorkload: "w", AnnotationPeer: ""}, want: []string{`seal.dev/peer=""`, "fix:"}},
		{name: "unknown rotate", ann: map[string]string{AnnotationWorkload: "w", AnnotationRotate: "yes"}, want: []string{`seal.dev/rotate="yes"`, "not a known value", `fix: write "true"`}},
		{name: "unknown secrets", ann: map[string]string{AnnotationWorkload: "w", AnnotationSecrets: "off"}, want: []string{`seal.dev/secrets="off"`, "not a known value", `fix: write "false"`}},
		{name: "unknown egg source", ann: map[string]string{AnnotationWorkload: "w", AnnotationEgg: "vault:x"}, want: []string{`seal.dev/egg="vault:x"`, "unknown source", "fix: use \"secret:"}},
		{name: "bad egg secret", ann: map[string]string{AnnotationWorkload: "w", AnnotationEgg: "secret:Bad Name"}, want: []string{`seal.dev/egg="secret:Bad Name"`, "valid Secret", "fix:"}},
		{name: "bad egg key", ann: map[string]string{AnnotationWorkload: "w", AnnotationEgg: "secret:s/a/b"}, want: []string{"seal.dev/egg", "Secret key", "fix:"}},
		{name: "relative egg path", ann: map[string]string{AnnotationWorkload: "w", AnnotationEgg: "image:etc/egg"}, want: []string{`seal.dev/egg="image:etc/egg"`, "absolute", "fix:"}},
		{name: "egg path in volume", ann: map[string]string{AnnotationWorkload: "w", AnnotationEgg: "image:/var/run/seal/egg"}, want: []string{"seal.dev/egg", "inside the seal volume", "fix:"}},
		{name: "malformed host list", ann: map[string]string{AnnotationWorkload: "w", AnnotationRouteHosts: "a.example.org,,b"}, want: []string{"seal.dev/route-hosts", "comma list of hostnames", "fix:"}},
		{name: "wildcard host", ann: map[string]string{AnnotationWorkload: "w", AnnotationRouteHosts: "*.example.org"}, want: []string{"seal.dev/route-hosts", "no wildcards"}},
		{name: "host with port", ann: map[string]string{AnnotationWorkload: "w", AnnotationRouteHosts: "a.example.org:443"}, want: []string{"seal.dev/route-hosts", "fix:"}},
		{name: "duplicate host", ann: map[string]string{AnnotationWorkload: "w", AnnotationRouteHosts: "a.org,a.org"}, want: []string{"seal.dev/route-hosts", "twice"}},
		{name: "bad trust domain", ann: map[string]string{AnnotationWorkload: "w", AnnotationFederatesWith: "Partner.Example.org"}, want: []string{"seal.dev/federates-with", "trust domains", "fix:"}},
		{name: "spiffe URI as trust domain", ann: map[string]string{AnnotationWorkload: "w", AnnotationFederatesWith: "spiffe://partner.org"}, want: []string{"seal.dev/federates-with", "fix:"}},
		{name: "volume named seal", ann: map[string]string{AnnotationWorkload: "w"}, edit: func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "seal"}}
		}, want: []string{"spec.volumes", "rename"}},
		{name: "container named seal-init", ann: map[string]string{AnnotationWorkload: "w"}, edit: func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "seal-init"}}
		}, want: []string{`container name="seal-init"`, "rename"}},
		{name: "mount at /var/run/seal", ann: map[string]string{AnnotationWorkload: "w"}, edit: func(p *corev1.Pod) {
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "x", MountPath: "/var/run/seal/"}}
		}, want: []string{"volumeMount", "/var/run/seal", "fix:"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := pod(tc.ann, "app", "app:1")
			if tc.label != "" {
				p.Labels[LabelInject] = tc.label
			}
			if tc.edit != nil {
				tc.edit(p)
			}
			cfg := testConfig
			res, err := Mutate(p, enabledNS, &cfg)
			if err == nil {
				t.Fatalf("Mutate admitted the pod (skipped %q, patch %s), want a refusal", res.Skipped, res.Patch)
			}
			var re *RefusalError
			if !errors.As(err, &re) || !errors.Is(err, ErrRefused) {
				t.Fatalf("error %v (%T) is not a *RefusalError", err, err)
			}
			if res.Patch != nil {
				t.Errorf("refused pod has a patch: %s", res.Patch)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestMutateWarnsUnknownAnnotation(t *testing.T) {
	cfg := testConfig
	res, err := Mutate(pod(map[string]string{AnnotationWorkload: "w", "seal.dev/peers": "db"}, "a", "b"), enabledNS, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "seal.dev/peers") {
		t.Errorf("warnings = %q, want one naming seal.dev/peers", res.Warnings)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := testConfig.Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
	err := Config{TrustDomain: "spiffe://x y", PullPolicy: "Sometimes"}.Validate()
	for _, w := range []string{"--init-image", "--trust-domain", "Sometimes"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("Validate() = %v, want it to mention %q", err, w)
		}
	}
}

// TestMutateRotateProbesWithoutPort: with seal.dev/rotate, seal-init is a native sidecar whose
// probes run `seal-init check` (the binary its command runs), with no port, so hostNetwork pods
// are injected too.
func TestMutateRotateProbesWithoutPort(t *testing.T) {
	for _, tc := range []struct {
		name, egg, api, wantBinary string
		hostNetwork                bool
	}{
		{name: "secret egg", egg: "secret:seal-egg-payments/egg", wantBinary: "/opt/seal/seal-agent"},
		{name: "secret egg, hostNetwork", egg: "secret:seal-egg-payments/egg", wantBinary: "/opt/seal/seal-agent", hostNetwork: true},
		{name: "image egg, hostNetwork", egg: "image:/etc/seal/egg", wantBinary: CopiedAgent, hostNetwork: true},
		{name: "secret egg, no Workload API", egg: "secret:seal-egg-payments/egg", api: "false", wantBinary: "/opt/seal/seal-init"},
		{name: "image egg, no Workload API", egg: "image:/etc/seal/egg", api: "false", wantBinary: CopiedBinary},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig
			cfg.Binary, cfg.AgentBinary = "/opt/seal/seal-init", "/opt/seal/seal-agent"
			cfg = cfg.WithDefaults()
			ann := map[string]string{AnnotationWorkload: "payments", AnnotationRotate: "true", AnnotationEgg: tc.egg}
			if tc.api != "" {
				ann[AnnotationWorkloadAPI] = tc.api
			}
			p := pod(ann, "app", "shop/app:1")
			p.Spec.HostNetwork = tc.hostNetwork
			res, err := Mutate(p, enabledNS, &cfg)
			if err != nil {
				t.Fatalf("Mutate: %v", err)
			}
			got, _ := apply(t, p, res.Patch)
			if got.Spec.HostNetwork != tc.hostNetwork {
				t.Errorf("hostNetwork = %v, want it unchanged (%v)", got.Spec.HostNetwork, tc.hostNetwork)
			}
			sc := got.Spec.InitContainers[len(got.Spec.InitContainers)-1]
			if sc.Name != InitContainerName || sc.RestartPolicy == nil || *sc.RestartPolicy != corev1.ContainerRestartPolicyAlways {
				t.Fatalf("last added init container %s restartPolicy %v, want %s as a native sidecar", sc.Name, sc.RestartPolicy, InitContainerName)
			}
			if sc.Command[0] != tc.wantBinary {
				t.Errorf("sidecar command %q, want %s", sc.Command, tc.wantBinary)
			}
			want := []string{tc.wantBinary, "check", MountPath}
			for name, pr := range map[string]*corev1.Probe{"startupProbe": sc.StartupProbe, "readinessProbe": sc.ReadinessProbe} {
				if pr == nil || pr.Exec == nil || !slices.Equal(pr.Exec.Command, want) || pr.HTTPGet != nil || pr.TCPSocket != nil || pr.GRPC != nil {
					t.Errorf("%s = %+v, want exec %q", name, pr, want)
				}
			}
			if sc.LivenessProbe != nil {
				t.Errorf("livenessProbe = %+v, want none (seal-init exits when it cannot renew)", sc.LivenessProbe)
			}
			if len(sc.Ports) != 0 || slices.ContainsFunc(sc.Args, func(a string) bool { return strings.Contains(a, "health") }) {
				t.Errorf("sidecar ports %v args %q, want no port and no health server", sc.Ports, sc.Args)
			}
			if !slices.Contains(sc.Args, "--watch") {
				t.Errorf("sidecar args %q lack --watch", sc.Args)
			}
			// The Workload API: the socket flag on the sidecar, its address in every app container.
			wantAPI := tc.api != "false"
			if got := slices.Contains(sc.Args, "--workload-api-socket"); got != wantAPI {
				t.Errorf("sidecar args %q: --workload-api-socket present %v, want %v", sc.Args, got, wantAPI)
			}
			env := got.Spec.Containers[0].Env
			hasEnv := slices.ContainsFunc(env, func(e corev1.EnvVar) bool {
				return e.Name == EnvEndpointSocket && e.Value == "unix://"+AgentSocket
			})
			if hasEnv != wantAPI {
				t.Errorf("app env %v: %s=unix://%s present %v, want %v", env, EnvEndpointSocket, AgentSocket, hasEnv, wantAPI)
			}
		})
	}
}

func TestWorkloadAPIAnnotationRefusals(t *testing.T) {
	cfg := testConfig.WithDefaults()
	for _, tc := range []struct{ name, rotate, api, want string }{
		{"true without rotation", "", "true", "needs seal.dev/rotate"},
		{"an unknown value", "true", "yes", "is not a known value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ann := map[string]string{AnnotationWorkload: "payments", AnnotationWorkloadAPI: tc.api}
			if tc.rotate != "" {
				ann[AnnotationRotate] = tc.rotate
			}
			_, err := Mutate(pod(ann, "app", "shop/app:1"), enabledNS, &cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), AnnotationWorkloadAPI) {
				t.Fatalf("Mutate: %v; want a refusal naming %s that says %q", err, AnnotationWorkloadAPI, tc.want)
			}
		})
	}
}
