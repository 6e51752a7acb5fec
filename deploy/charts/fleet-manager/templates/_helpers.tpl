{{- define "fleet-manager.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "fleet-manager.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "fleet-manager.labels" -}}
{{ include "fleet-manager.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The number of replicas the workload runs. */}}
{{- define "fleet-manager.replicas" -}}
{{- if eq .Values.database.type "postgres" -}}{{ .Values.replicas | int }}{{- else -}}1{{- end -}}
{{- end -}}

{{- define "fleet-manager.adminSecretName" -}}
{{- default (printf "%s-admin" (include "fleet-manager.fullname" .)) .Values.admin.existingSecret -}}
{{- end -}}

{{- define "fleet-manager.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "fleet-manager.fullname" .)) .Values.tls.secretName -}}
{{- end -}}

{{- define "fleet-manager.check" -}}
{{- if not (has .Values.database.type (list "sqlite" "postgres")) -}}
{{- fail (printf "database.type must be sqlite or postgres, not %q" .Values.database.type) -}}
{{- end -}}
{{- if not (has .Values.tls.mode (list "none" "secret" "certManager")) -}}
{{- fail (printf "tls.mode must be none, secret or certManager, not %q" .Values.tls.mode) -}}
{{- end -}}
{{- if and (eq .Values.tls.mode "secret") (not .Values.tls.secretName) -}}
{{- fail "tls.mode secret needs tls.secretName: a kubernetes.io/tls Secret" -}}
{{- end -}}
{{- if eq .Values.database.type "postgres" -}}
{{- if not .Values.database.postgres.dsnSecret.name -}}
{{- fail "database.type postgres needs database.postgres.dsnSecret.name: a Secret holding the DSN" -}}
{{- end -}}
{{- if not (or .Values.admin.existingSecret .Values.admin.token) -}}
{{- fail "database.type postgres runs several replicas that must share one admin token: set admin.existingSecret or admin.token" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The manager's container, shared by the StatefulSet and the Deployment. */}}
{{- define "fleet-manager.podSpec" -}}
securityContext:
  runAsNonRoot: true
  runAsUser: 65532
  runAsGroup: 65532
  fsGroup: 65532
  seccompProfile:
    type: RuntimeDefault
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
containers:
  - name: manager
    image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
    imagePullPolicy: {{ .Values.image.pullPolicy }}
    args:
      - serve
      - --listen=0.0.0.0:{{ .Values.service.port }}
      - --data-dir=/var/lib/fleet-manager
      - --offline-after={{ .Values.offlineAfterSeconds }}
      - --git-concurrency={{ .Values.gitConcurrency }}
      {{- range .Values.extraArgs }}
      - {{ . }}
      {{- end }}
    env:
      - name: FLEET_LOG_FORMAT
        value: {{ .Values.logFormat | quote }}
      {{- if eq .Values.database.type "postgres" }}
      - name: FLEET_DATABASE
        valueFrom:
          secretKeyRef:
            name: {{ .Values.database.postgres.dsnSecret.name }}
            key: {{ .Values.database.postgres.dsnSecret.key }}
      {{- end }}
      {{- if or .Values.admin.existingSecret .Values.admin.token }}
      - name: FLEET_ADMIN_TOKEN
        valueFrom:
          secretKeyRef:
            name: {{ include "fleet-manager.adminSecretName" . }}
            key: token
      {{- end }}
      {{- with .Values.secretKey.existingSecret }}
      - name: FLEET_SECRET_KEY
        valueFrom:
          secretKeyRef:
            name: {{ . }}
            key: key
      {{- end }}
      {{- if ne .Values.tls.mode "none" }}
      - name: FLEET_TLS_CERT
        value: /etc/fleet-manager/tls/tls.crt
      - name: FLEET_TLS_KEY
        value: /etc/fleet-manager/tls/tls.key
      {{- end }}
      {{- with .Values.extraEnv }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
    ports:
      - name: api
        containerPort: {{ .Values.service.port }}
        protocol: TCP
    livenessProbe:
      httpGet:
        path: /healthz
        port: api
        scheme: {{ if eq .Values.tls.mode "none" }}HTTP{{ else }}HTTPS{{ end }}
      periodSeconds: 20
    readinessProbe:
      httpGet:
        path: /readyz
        port: api
        scheme: {{ if eq .Values.tls.mode "none" }}HTTP{{ else }}HTTPS{{ end }}
      periodSeconds: 10
    resources:
      {{- toYaml .Values.resources | nindent 6 }}
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      capabilities:
        drop: ["ALL"]
    volumeMounts:
      - name: data
        mountPath: /var/lib/fleet-manager
      - name: tmp
        mountPath: /tmp
      {{- if ne .Values.tls.mode "none" }}
      - name: tls
        mountPath: /etc/fleet-manager/tls
        readOnly: true
      {{- end }}
volumes:
  {{- if eq .Values.database.type "postgres" }}
  # Git checkouts only: the state is in PostgreSQL.
  - name: data
    emptyDir: {}
  {{- end }}
  - name: tmp
    emptyDir: {}
  {{- if ne .Values.tls.mode "none" }}
  - name: tls
    secret:
      secretName: {{ include "fleet-manager.tlsSecretName" . }}
  {{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
