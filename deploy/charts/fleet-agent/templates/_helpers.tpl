{{/* The release's full name, at most 63 characters. */}}
{{- define "fleet-agent.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "fleet-agent.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "fleet-agent.labels" -}}
{{ include "fleet-agent.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "fleet-agent.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "fleet-agent.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "fleet-agent.secretName" -}}
{{- default (include "fleet-agent.fullname" .) .Values.registration.existingSecret -}}
{{- end -}}

{{/* Fails early on a mode the agent does not know, or namespaced mode without namespaces. */}}
{{- define "fleet-agent.checkRbac" -}}
{{- if not (has .Values.rbac.mode (list "cluster" "namespaced")) -}}
{{- fail (printf "rbac.mode must be cluster or namespaced, not %q" .Values.rbac.mode) -}}
{{- end -}}
{{- if and (eq .Values.rbac.mode "namespaced") (empty .Values.rbac.namespaces) -}}
{{- fail "rbac.mode namespaced needs rbac.namespaces: the namespaces the agent may manage" -}}
{{- end -}}
{{- end -}}
