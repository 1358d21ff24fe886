package inject

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestMutateAttest: seal.dev/attest: tpm2 gives seal-init, and only seal-init, the node's TPM
// and the flags to quote with it.
func TestMutateAttest(t *testing.T) {
	for _, tc := range []struct {
		name      string
		tpm       string
		egg       string
		wantMount bool
		wantTPM   string
	}{
		{"device, Egg from a Secret", "", "", true, "/dev/tpmrm0"},
		{"device, Egg in the image", "/dev/tpm0", "image:/etc/seal/egg", true, "/dev/tpm0"},
		{"TPM simulator over TCP", "tcp:127.0.0.1:2321", "", false, "tcp:127.0.0.1:2321"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig
			cfg.TPM = tc.tpm
			cfg = cfg.WithDefaults()
			ann := map[string]string{AnnotationWorkload: "vault", AnnotationAttest: "tpm2"}
			if tc.egg != "" {
				ann[AnnotationEgg] = tc.egg
			}
			p := pod(ann, "app", "shop/vault:1")
			res, err := Mutate(p, enabledNS, &cfg)
			if err != nil {
				t.Fatal(err)
			}
			out, _ := apply(t, p, res.Patch)
			var init *corev1.Container
			for i := range out.Spec.InitContainers {
				if out.Spec.InitContainers[i].Name == InitContainerName {
					init = &out.Spec.InitContainers[i]
				}
			}
			if init == nil {
				t.Fatal("no seal-init container")
			}
			if want := []string{"--attest", "tpm2", "--tpm", tc.wantTPM}; !containsSeq(init.Args, want) {
				t.Errorf("seal-init args %q, want %q", init.Args, want)
			}
			hasMount := func(c *corev1.Container) bool {
				return slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == TPMVolumeName })
			}
			if hasMount(init) != tc.wantMount {
				t.Errorf("seal-init mounts the TPM: %v, want %v", hasMount(init), tc.wantMount)
			}
			for i := range out.Spec.Containers {
				if hasMount(&out.Spec.Containers[i]) {
					t.Errorf("app container %s mounts the TPM", out.Spec.Containers[i].Name)
				}
			}
			for i := range out.Spec.InitContainers {
				if c := &out.Spec.InitContainers[i]; c.Name != InitContainerName && hasMount(c) {
					t.Errorf("init container %s mounts the TPM", c.Name)
				}
			}
			var vol *corev1.Volume
			for i := range out.Spec.Volumes {
				if out.Spec.Volumes[i].Name == TPMVolumeName {
					vol = &out.Spec.Volumes[i]
				}
			}
			if (vol != nil) != tc.wantMount {
				t.Fatalf("TPM volume %+v, want one: %v", vol, tc.wantMount)
			}
			if vol != nil && (vol.HostPath == nil || vol.HostPath.Path != tc.wantTPM || *vol.HostPath.Type != corev1.HostPathCharDev) {
				t.Errorf("TPM volume %+v, want hostPath %s of type CharDevice", vol.VolumeSource, tc.wantTPM)
			}
			// The hand-written encoder writes what encoding/json writes for these containers.
			s, _ := parseSettings(p.Annotations)
			for _, c := range initContainers(p, &s, &cfg) {
				want, _ := json.Marshal(&c)
				if got := appendContainer(nil, &c, &cfg); !sameJSON(t, got, want) {
					t.Errorf("container %s\nappendContainer: %s\njson.Marshal:    %s", c.Name, got, want)
				}
			}
		})
	}
}

func containsSeq(have, want []string) bool {
	for i := 0; i+len(want) <= len(have); i++ {
		if slices.Equal(have[i:i+len(want)], want) {
			return true
		}
	}
	return false
}

func TestAttestRefusals(t *testing.T) {
	cfg := testConfig
	p := pod(map[string]string{AnnotationWorkload: "vault", AnnotationAttest: "sgx"}, "app", "shop/vault:1")
	_, err := Mutate(p, enabledNS, &cfg)
	var re *RefusalError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), `seal.dev/attest`) || !strings.Contains(err.Error(), "tpm2") {
		t.Errorf("Mutate = %v, want a refusal naming seal.dev/attest and tpm2", err)
	}
	for _, bad := range []string{"dev/tpm0", "tcp:", "tcp:host", "/dev/../tpm0"} {
		c := testConfig
		c.TPM = bad
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "--tpm") {
			t.Errorf("Validate with TPM %q = %v, want an error naming --tpm", bad, err)
		}
	}
}
