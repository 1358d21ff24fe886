{{/* Image of a Seal program: <registry>/<name>:<tag>. */}}
{{- define "seal.image" -}}
{{- printf "%s/%s:%s" .root.Values.image.registry .name (default .root.Chart.AppVersion .root.Values.image.tag) -}}
{{- end -}}

{{- define "seal.initImage" -}}
{{- default (include "seal.image" (dict "root" . "name" "seal-init")) .Values.init.image -}}
{{- end -}}

{{- define "seal.labels" -}}
app.kubernetes.io/part-of: seal
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The hardened security context every Seal container runs with. */}}
{{- define "seal.containerSecurity" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
capabilities: {drop: [ALL]}
seccompProfile: {type: RuntimeDefault}
{{- end -}}

{{/* Namespaces never injected or enforced. */}}
{{- define "seal.systemNamespaces" -}}
[kube-system, kube-public, kube-node-lease, {{ .Release.Namespace }}]
{{- end -}}
