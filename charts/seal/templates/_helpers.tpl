{{/* Image of a Seal program: <registry>/<name>:<tag>[@<digest>], the reference make images
     (hack/images) pushes: the tag defaults to appVersion, v-prefixed as make images tags. */}}
{{- define "seal.image" -}}
{{- $ref := printf "%s/%s:%s" .root.Values.image.registry .name (default .root.Chart.AppVersion .root.Values.image.tag) -}}
{{- with get (.root.Values.image.digest | default dict) .name -}}
{{- $ref = printf "%s@%s" $ref . -}}
{{- end -}}
{{- $ref -}}
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


{{/* Scheduling and pod metadata knobs of one component (.c: its values). */}}
{{- define "seal.scheduling" -}}
{{- with .c.nodeSelector }}
nodeSelector: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .c.tolerations }}
tolerations: {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
