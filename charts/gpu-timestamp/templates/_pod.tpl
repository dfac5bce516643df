{{/*
The worker pod template (metadata + spec), defined once. Used by the ScaledJob's jobTargetRef and, when the
operator is enabled, published in the ConfigMap <fullname>-worker-pod-template as the base of its batch Jobs.
*/}}
{{- define "gpu-timestamp.workerPodTemplate" -}}
{{- $worker := .Values.worker }}
{{- $grace := required "worker.env.SHUTDOWN_GRACE_SECONDS must be set: terminationGracePeriodSeconds is derived from it" $worker.env.SHUTDOWN_GRACE_SECONDS }}
{{- $resources := deepCopy ($worker.resources | default dict) }}
{{- if gt (int $worker.gpu.count) 0 }}
{{- $limits := $resources.limits | default dict }}
{{- $_ := set $limits $worker.gpu.resourceName (int $worker.gpu.count) }}
{{- $_ := set $resources "limits" $limits }}
{{- end -}}
metadata:
  labels:
    {{- include "gpu-timestamp.podLabels" . | nindent 4 }}
    app.kubernetes.io/component: worker
    {{- with $worker.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with $worker.podAnnotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  serviceAccountName: {{ include "gpu-timestamp.serviceAccountName" . }}
  # The worker never calls the Kubernetes API; IRSA mounts its own web-identity token.
  automountServiceAccountToken: false
  enableServiceLinks: false
  # Never: a failed pod stays visible, and the Job's podFailurePolicy applies.
  restartPolicy: Never
  # The worker's shutdown grace, plus 30 s to release the message and exit.
  terminationGracePeriodSeconds: {{ add (ceil $grace) 30 }}
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $worker.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  {{- with $worker.runtimeClassName }}
  runtimeClassName: {{ . }}
  {{- end }}
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  {{- with $worker.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $worker.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $worker.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $worker.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- tpl (toYaml .) $ | nindent 4 }}
  {{- end }}
  containers:
    - name: worker
      image: {{ include "gpu-timestamp.image" . }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      envFrom:
        - configMapRef:
            name: {{ include "gpu-timestamp.workerEnvConfigMap" . }}
        {{- with $worker.extraEnvFrom }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      env:
        # The root filesystem is read-only: library caches (torch, triton, Hugging Face) go under $HOME.
        - name: HOME
          value: /tmp
        {{- with $worker.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- with $resources }}
      resources:
        {{- include "gpu-timestamp.quantities" . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- toYaml .Values.containerSecurityContext | nindent 8 }}
      volumeMounts:
        - name: tmp
          mountPath: /tmp
        {{- with $worker.extraVolumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
  volumes:
    - name: tmp
      emptyDir:
        sizeLimit: {{ $worker.scratch.sizeLimit }}
    {{- with $worker.extraVolumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end }}
