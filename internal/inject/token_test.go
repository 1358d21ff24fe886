package inject

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestMutateToken: the projected ServiceAccount token reaches seal-init only, with the
// configured audience, also in pods that turn off automountServiceAccountToken, and never an
// app container or the pod's own init containers.
func TestMutateToken(t *testing.T) {
	no := false
	secretEgg := pod(map[string]string{AnnotationWorkload: "payments"}, "app", "shop/app:1", "side", "side:1")
	secretEgg.Spec.InitContainers = []corev1.Container{{Name: "first", Image: "busybox"}}
	secretEgg.Spec.AutomountServiceAccountToken = &no
	imageEgg := pod(map[string]string{AnnotationWorkload: "payments", AnnotationEgg: "image:/etc/seal/egg", AnnotationRotate: "true"}, "app", "shop/app:1")
	for _, tc := range []struct {
		name     string
		pod      *corev1.Pod
		audience string
	}{
		{"secret egg, automount off", secretEgg, ""},
		{"image egg sidecar, custom audience", imageEgg, "seal-rot.prod-eu"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig
			cfg.TokenAudience = tc.audience
			cfg = cfg.WithDefaults()
			want := tc.audience
			if want == "" {
				want = DefaultTokenAudience
			}
			res, err := Mutate(tc.pod, enabledNS, &cfg)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := apply(t, tc.pod, res.Patch)
			var vol *corev1.Volume
			for i := range got.Spec.Volumes {
				if got.Spec.Volumes[i].Name == TokenVolumeName {
					vol = &got.Spec.Volumes[i]
				}
			}
			if vol == nil || vol.Projected == nil || len(vol.Projected.Sources) != 1 || vol.Projected.Sources[0].ServiceAccountToken == nil {
				t.Fatalf("volumes = %+v, want a projected %s volume", got.Spec.Volumes, TokenVolumeName)
			}
			sat := vol.Projected.Sources[0].ServiceAccountToken
			if sat.Audience != want || sat.ExpirationSeconds == nil || *sat.ExpirationSeconds != 600 || sat.Path != "token" {
				t.Errorf("token projection = %+v, want audience %q, 600s, path token", sat, want)
			}
			if a, b := got.Spec.AutomountServiceAccountToken, tc.pod.Spec.AutomountServiceAccountToken; (a == nil) != (b == nil) || a != nil && *a != *b {
				t.Error("Mutate changed automountServiceAccountToken")
			}
			for _, c := range append(append([]corev1.Container{}, got.Spec.InitContainers...), got.Spec.Containers...) {
				has := false
				for _, m := range c.VolumeMounts {
					if m.Name == TokenVolumeName {
						has = true
						if m.MountPath != TokenDir || !m.ReadOnly {
							t.Errorf("%s mounts the token at %s (readOnly %v), want %s read-only", c.Name, m.MountPath, m.ReadOnly, TokenDir)
						}
					}
				}
				if has != (c.Name == InitContainerName) {
					t.Errorf("container %s mounts the token: %v; only %s may", c.Name, has, InitContainerName)
				}
			}
			if !strings.Contains(strings.Join(res.Status.Volumes, ","), TokenVolumeName) {
				t.Errorf("status volumes = %v, want %s listed", res.Status.Volumes, TokenVolumeName)
			}
		})
	}
	t.Run("no service account, no token (the API server would refuse the pod)", func(t *testing.T) {
		p := pod(map[string]string{AnnotationWorkload: "payments"}, "app", "shop/app:1")
		p.Spec.ServiceAccountName = ""
		cfg := testConfig
		res, err := Mutate(p, enabledNS, &cfg)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := apply(t, p, res.Patch); len(got.Spec.Volumes) != 1 || len(got.Spec.InitContainers[0].VolumeMounts) != 1 {
			t.Errorf("volumes %+v, seal-init mounts %+v; want only the seal volume", got.Spec.Volumes, got.Spec.InitContainers[0].VolumeMounts)
		}
	})
	for _, v := range []string{TokenVolumeName, TPMVolumeName} {
		t.Run("an app container mounting "+v+" is refused", func(t *testing.T) {
			p := pod(map[string]string{AnnotationWorkload: "payments", "seal.dev/attest": "tpm2"}, "app", "shop/app:1")
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: v, MountPath: "/dev/tpmrm0"}}
			cfg := testConfig
			_, err := Mutate(p, enabledNS, &cfg)
			if err == nil || !strings.Contains(err.Error(), "names a volume only seal-init may mount") {
				t.Errorf("got %v, want a refusal naming the mount", err)
			}
		})
	}
	t.Run("a pod volume named seal-token is refused", func(t *testing.T) {
		p := pod(map[string]string{AnnotationWorkload: "payments"}, "app", "shop/app:1")
		p.Spec.Volumes = []corev1.Volume{{Name: TokenVolumeName}}
		cfg := testConfig
		if _, err := Mutate(p, enabledNS, &cfg); err == nil || !strings.Contains(err.Error(), "is a name Seal adds") {
			t.Errorf("got %v, want a refusal", err)
		}
	})
}
