package inject

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"
)

// The pod's projected ServiceAccount token: the second factor seal-init sends with the Egg
// (docs/binding.md). It is mounted into seal-init only, never into app containers, and the
// kubelet writes and rotates it whatever the pod's automountServiceAccountToken says.
const (
	// TokenVolumeName is the projected volume holding the token.
	TokenVolumeName = "seal-token"
	// TokenDir is where seal-init has it mounted; TokenPath is the token file, seal-init's
	// default --token-file.
	TokenDir  = "/var/run/secrets/seal.dev"
	TokenPath = TokenDir + "/token"
	// DefaultTokenAudience is the token's audience unless --token-audience says otherwise: the
	// ROT's clusters expect it by default.
	DefaultTokenAudience = "seal-rot"
	// TokenExpirationSeconds is the token's lifetime; the kubelet renews it at 80%.
	TokenExpirationSeconds = 600
)

// projectsToken reports whether the pod gets the token: it must run as a service account. The
// API server's ServiceAccount admission sets serviceAccountName (to "default") before webhooks
// run, so every pod of a real cluster does; without one the API server refuses a pod with a
// serviceAccountToken projection.
func projectsToken(pod *corev1.Pod) bool { return pod.Spec.ServiceAccountName != "" }

// tokenMount is seal-init's read-only mount of the token volume.
func tokenMount() corev1.VolumeMount {
	return corev1.VolumeMount{Name: TokenVolumeName, ReadOnly: true, MountPath: TokenDir}
}

var rwTokenMountsJSON = []byte(`[{"name":"` + VolumeName + `","mountPath":"` + MountPath + `"},{"name":"` + TokenVolumeName +
	`","readOnly":true,"mountPath":"` + TokenDir + `"}]`)

// tokenVolumeJSON is the projected volume of a token for audience aud.
func tokenVolumeJSON(aud string) []byte {
	b := []byte(`{"name":"` + TokenVolumeName + `","projected":{"sources":[{"serviceAccountToken":{"audience":`)
	b = appendString(b, aud)
	b = append(b, `,"expirationSeconds":`...)
	b = strconv.AppendInt(b, TokenExpirationSeconds, 10)
	return append(b, `,"path":"token"}}]}}`...)
}
