package inject

import (
	"path"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"
)

// AnnotationAttest is the contract's seal.dev/attest.
const AnnotationAttest = sealv1.AnnotationAttest

// TPMVolumeName is the hostPath volume of the node's TPM device (seal.dev/attest pods).
const TPMVolumeName = "seal-tpm"

// DefaultTPM is Config.TPM when empty: the kernel's TPM resource manager.
const DefaultTPM = "/dev/tpmrm0"

// parseAttest reads seal.dev/attest: "" (none) or "tpm2".
func (s *settings) parseAttest(ann map[string]string) error {
	switch v := ann[AnnotationAttest]; v {
	case "":
	case "tpm2":
		s.attest = true
	default:
		return refuse(AnnotationAttest, v, "is not a known evidence type", `write "tpm2" (a TPM 2.0 quote), or remove it`)
	}
	return nil
}

// tpm is the TPM seal-init opens: cfg.TPM or DefaultTPM.
func (c *Config) tpm() string {
	if c.TPM == "" {
		return DefaultTPM
	}
	return c.TPM
}

// tpmIsDevice reports whether the TPM is a node device (mounted from the host) rather than a
// TCP address (a TPM simulator; no mount).
func (c *Config) tpmIsDevice() bool { return !strings.HasPrefix(c.tpm(), "tcp:") }

// attestArgs are seal-init's flags for an attesting pod.
func (s *settings) attestArgs(cfg *Config) []string {
	if !s.attest {
		return nil
	}
	return []string{"--attest", "tpm2", "--tpm", cfg.tpm()}
}

// attestMounts are seal-init's volume mounts: rw, plus the TPM device for an attesting pod.
// The app containers never get the TPM.
func (s *settings) attestMounts(rw []corev1.VolumeMount, cfg *Config) []corev1.VolumeMount {
	if !s.attest || !cfg.tpmIsDevice() {
		return rw
	}
	return append(slices.Clip(rw), corev1.VolumeMount{Name: TPMVolumeName, MountPath: cfg.tpm()})
}

// tpmVolumeJSON is the hostPath volume of the TPM device, or nil when none is mounted.
func (s *settings) tpmVolumeJSON(cfg *Config) []byte {
	if !s.attest || !cfg.tpmIsDevice() {
		return nil
	}
	t := corev1.HostPathCharDev
	return mustJSON(&corev1.Volume{Name: TPMVolumeName, VolumeSource: corev1.VolumeSource{
		HostPath: &corev1.HostPathVolumeSource{Path: cfg.tpm(), Type: &t}}})
}

// validTPM reports whether t is an absolute device path or tcp:HOST:PORT.
func validTPM(t string) bool {
	if rest, ok := strings.CutPrefix(t, "tcp:"); ok {
		i := strings.LastIndexByte(rest, ':')
		return i > 0 && i < len(rest)-1
	}
	return path.IsAbs(t) && path.Clean(t) == t && t != "/"
}
