package inject

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"
)

// restricted is the security context of every container Mutate adds: it passes the
// "restricted" Pod Security Standard.
func restricted() *corev1.SecurityContext {
	f, t := false, true
	return &corev1.SecurityContext{
		AllowPrivilegeEscalation: &f,
		ReadOnlyRootFilesystem:   &t,
		RunAsNonRoot:             &t,
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

// initContainers returns the containers that go first among the pod's init containers.
func initContainers(pod *corev1.Pod, s *settings, cfg *Config) []corev1.Container {
	rw := []corev1.VolumeMount{{Name: VolumeName, MountPath: MountPath}}
	args := []string{"--out", MountPath}
	for _, h := range s.routeHosts {
		args = append(args, "--hostname", h)
	}
	for _, td := range s.federates {
		args = append(args, "--federates-with", td)
	}
	if sc := pod.Spec.SecurityContext; sc != nil && sc.FSGroup != nil {
		args = append(args, "--gid", strconv.FormatInt(*sc.FSGroup, 10))
	}
	if s.rotate {
		args = append(args, "--watch")
	}
	binary, copied := cfg.Binary, CopiedBinary
	if s.workloadAPI {
		args = append(args, "--workload-api-socket", AgentSocket)
		binary, copied = cfg.AgentBinary, CopiedAgent
	}
	if s.noSecrets {
		args = append(args, "--secrets=false")
	}
	args = append(args, s.attestArgs(cfg)...)
	main := corev1.Container{
		Name:            InitContainerName,
		Image:           cfg.Image,
		ImagePullPolicy: cfg.PullPolicy,
		Command:         []string{binary},
		Resources:       cfg.Resources,
		VolumeMounts:    s.attestMounts(rw, cfg),
		SecurityContext: restricted(),
	}
	if projectsToken(pod) {
		main.VolumeMounts = append(main.VolumeMounts, tokenMount())
	}
	if s.imagePath == "" {
		main.Args = args
		if s.rotate {
			sidecar(&main)
		}
		main.Env = []corev1.EnvVar{{Name: EggEnv, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: s.secretName},
			Key:                  s.secretKey,
		}}}}
		return []corev1.Container{main}
	}
	// The Egg is a file in the app image: copy seal-init into the volume, then run it from
	// there in a container of the app's image.
	app := defaultContainer(pod)
	main.Image, main.ImagePullPolicy = app.Image, app.ImagePullPolicy
	main.Command = []string{copied}
	main.Args = append([]string{"--egg-from-image", s.imagePath}, args...)
	if s.rotate {
		sidecar(&main)
	}
	cp := corev1.Container{
		Name:            CopyContainerName,
		Image:           cfg.Image,
		ImagePullPolicy: cfg.PullPolicy,
		Command:         []string{binary},
		Args:            []string{"copy", copied},
		Resources:       cfg.Resources,
		VolumeMounts:    rw,
		SecurityContext: restricted(),
	}
	return []corev1.Container{cp, main}
}

// defaultContainer is the container named by kubectl.kubernetes.io/default-container, or the
// first one.
func defaultContainer(pod *corev1.Pod) *corev1.Container {
	if name := pod.Annotations["kubectl.kubernetes.io/default-container"]; name != "" {
		for i := range pod.Spec.Containers {
			if pod.Spec.Containers[i].Name == name {
				return &pod.Spec.Containers[i]
			}
		}
	}
	return &pod.Spec.Containers[0]
}

// appEnv is the SEAL_* env added to each app container, written straight into the patch.
type appEnv struct {
	s   *settings
	cfg *Config
}

// envVar is one SEAL_* variable, its value in pieces (the names are validated ASCII: workload,
// peer, trust domain, so the SPIFFE ID is never built as a string).
type envVar struct {
	name  string
	value [6]string
}

// vars are the variables, in order, in an array that stays on the caller's stack.
func (e appEnv) vars() (vs [6]envVar, n int) {
	vs[0] = envVar{name: "SEAL_DIR", value: [6]string{MountPath}}
	vs[1] = envVar{name: "SEAL_WORKLOAD", value: [6]string{e.s.workload}}
	vs[2] = envVar{name: "SEAL_PEER", value: [6]string{e.s.peer}}
	vs[3] = envVar{name: "SEAL_SPIFFE_ID", value: [6]string{"spiffe://", e.cfg.TrustDomain, "/workload/", e.s.workload, "/peer/", e.s.peer}}
	vs[4] = envVar{name: "SEAL_TRUST_DOMAIN", value: [6]string{e.cfg.TrustDomain}}
	if !e.s.workloadAPI {
		return vs, 5
	}
	vs[5] = envVar{name: EnvEndpointSocket, value: [6]string{"unix://" + AgentSocket}}
	return vs, 6
}

// appendVar appends v as an EnvVar object.
func appendVar(b []byte, v *envVar) []byte {
	b = append(b, `{"name":"`...)
	b = append(b, v.name...)
	b = append(b, `","value":"`...)
	for _, piece := range v.value {
		b = appendStringBody(b, piece)
	}
	return append(b, `"}`...)
}

var (
	mountJSON  = []byte(`{"name":"` + VolumeName + `","readOnly":true,"mountPath":"` + MountPath + `"}`)
	mountsJSON = []byte(`[{"name":"` + VolumeName + `","readOnly":true,"mountPath":"` + MountPath + `"}]`)
)

// patchContainer adds the read-only mount and the SEAL_* env to container i of field.
func (e appEnv) patchContainer(w *patchWriter, field string, i int, c *corev1.Container) {
	if len(c.VolumeMounts) == 0 {
		w.addAt(field, i, "/volumeMounts", mountsJSON)
	} else {
		w.addAt(field, i, "/volumeMounts/-", mountJSON)
	}
	vs, n := e.vars()
	if len(c.Env) == 0 {
		w.openAt(field, i, "/env")
		w.buf = append(w.buf, '[')
		for j := range n {
			if j > 0 {
				w.buf = append(w.buf, ',')
			}
			w.buf = appendVar(w.buf, &vs[j])
		}
		w.buf = append(w.buf, ']')
		w.close()
		return
	}
	for j := range n {
		w.openAt(field, i, "/env/-")
		w.buf = appendVar(w.buf, &vs[j])
		w.close()
	}
}

// sidecar makes c a native sidecar: it restarts on exit, and the app containers start once its
// startup probe says the identity files are written. The probes run `seal-init check` in the
// container (the same binary as its command): no port, so it works with hostNetwork too.
func sidecar(c *corev1.Container) {
	always := corev1.ContainerRestartPolicyAlways
	c.RestartPolicy = &always
	c.StartupProbe, c.ReadinessProbe = startupProbe(c.Command[0]), readinessProbe(c.Command[0])
}

// ProbeTimeoutSeconds bounds one `seal-init check`: it reads three small files, but starting a
// process in a container can take a while on a busy node.
const ProbeTimeoutSeconds = 5

// startupProbe holds the app containers until the files hold a valid identity (a little over 2
// minutes, seal-init's own default timeout).
func startupProbe(binary string) *corev1.Probe {
	p := readinessProbe(binary)
	p.PeriodSeconds, p.FailureThreshold = 1, 130
	return p
}

// readinessProbe makes the pod unready when the files no longer hold a valid identity (renewal
// failed until expiry). There is no liveness probe: seal-init exits when renewal is refused or
// the certificate expired, and restartPolicy Always starts it again.
func readinessProbe(binary string) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler:   corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: CheckCommand(binary)}},
		TimeoutSeconds: ProbeTimeoutSeconds,
	}
}

// CheckCommand is the exec probe of a seal-init sidecar whose binary is at binary.
func CheckCommand(binary string) []string { return []string{binary, "check", MountPath} }
