{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "gpu-timestamp.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Prefix of every resource name: the release name, plus the chart name unless the release already has it. */}}
{{- define "gpu-timestamp.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "gpu-timestamp.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels that never change on upgrade: the only ones used in selectors. */}}
{{- define "gpu-timestamp.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gpu-timestamp.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Standard labels of every object; callers add app.kubernetes.io/component. */}}
{{- define "gpu-timestamp.labels" -}}
helm.sh/chart: {{ include "gpu-timestamp.chart" . }}
{{ include "gpu-timestamp.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: gpu-timestamp
{{- end }}

{{/*
Labels of the pods (worker Jobs, operator, tests): no `managed-by: Helm` or `helm.sh/chart`, since Helm does not
manage pods; KEDA and the Job controller create them.
*/}}
{{- define "gpu-timestamp.podLabels" -}}
{{ include "gpu-timestamp.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: gpu-timestamp
{{- end }}

{{/* repository:tag, or repository@digest (repository:tag@digest when both are set): a digest pins the bytes. */}}
{{- define "gpu-timestamp.image" -}}
{{- $image := .Values.image }}
{{- if and $image.digest $image.tag }}
{{- printf "%s:%s@%s" $image.repository $image.tag $image.digest }}
{{- else if $image.digest }}
{{- printf "%s@%s" $image.repository $image.digest }}
{{- else }}
{{- printf "%s:%s" $image.repository ($image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
Resource requests/limits with every quantity as a string: `cpu: 0.5` and `cpu: "500m"` are both accepted in values,
and whole numbers never print as "1e+06" (Helm reads YAML numbers as float64).
*/}}
{{- define "gpu-timestamp.quantities" -}}
{{- $out := dict }}
{{- range $section, $quantities := . }}
{{- $converted := dict }}
{{- range $name, $value := $quantities }}
{{- $_ := set $converted $name (include "gpu-timestamp.envValue" $value) }}
{{- end }}
{{- $_ := set $out $section $converted }}
{{- end }}
{{- toYaml $out }}
{{- end }}

{{- define "gpu-timestamp.workerEnvConfigMap" -}}
{{- printf "%s-worker-env" (include "gpu-timestamp.fullname" .) }}
{{- end }}

{{- define "gpu-timestamp.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "gpu-timestamp.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "gpu-timestamp.operator.fullname" -}}
{{- printf "%s-operator" (include "gpu-timestamp.fullname" . | trunc 54 | trimSuffix "-") }}
{{- end }}

{{- define "gpu-timestamp.operator.serviceAccountName" -}}
{{- if .Values.operator.serviceAccount.create }}
{{- default (include "gpu-timestamp.operator.fullname" .) .Values.operator.serviceAccount.name }}
{{- else }}
{{- .Values.operator.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
ServiceAccount annotations as YAML (empty when none): the IRSA role, when set, plus extra annotations.
Call with the serviceAccount values (roleArn, annotations).
*/}}
{{- define "gpu-timestamp.serviceAccountAnnotations" -}}
{{- $annotations := deepCopy (.annotations | default dict) }}
{{- with .roleArn }}
{{- $_ := set $annotations "eks.amazonaws.com/role-arn" . }}
{{- end }}
{{- with $annotations }}
{{- toYaml . }}
{{- end }}
{{- end }}

{{/*
A worker setting as an environment variable value. Helm reads every YAML number as float64 and would
print 1000000 as "1e+06"; whole numbers are printed as integers, maps and lists as JSON (pydantic-settings'
format for complex fields).
*/}}
{{- define "gpu-timestamp.envValue" -}}
{{- if and (kindIs "float64" .) (eq . (floor .)) }}
{{- int64 . }}
{{- else if or (kindIs "map" .) (kindIs "slice" .) }}
{{- toJson . }}
{{- else }}
{{- toString . }}
{{- end }}
{{- end }}
