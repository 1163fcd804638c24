{{/* Chart name, overridable with nameOverride. */}}
{{- define "interdict.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name of the release's resources: fullnameOverride, else <release>-<name>, or
the release name alone when it already contains the chart name.
*/}}
{{- define "interdict.fullname" -}}
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

{{/* chart label: name-version. */}}
{{- define "interdict.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every resource. */}}
{{- define "interdict.labels" -}}
helm.sh/chart: {{ include "interdict.chart" . }}
{{ include "interdict.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: interdict
{{- end }}

{{/* Labels selecting the operator pods (immutable in a Deployment: keep them stable). */}}
{{- define "interdict.selectorLabels" -}}
app.kubernetes.io/name: {{ include "interdict.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The ServiceAccount the operator runs as. */}}
{{- define "interdict.serviceAccountName" -}}
{{- include "interdict.fullname" . }}
{{- end }}

{{/* The leader-election Lease, in the release namespace. */}}
{{- define "interdict.leaseName" -}}
{{- printf "%s-leader" (include "interdict.fullname" .) }}
{{- end }}

{{/* "true" when the operator runs with --leader-elect, else empty. */}}
{{- define "interdict.leaderElect" -}}
{{- if or (gt (int .Values.replicas) 1) .Values.leaderElection.enabled }}true{{ end }}
{{- end }}

{{/* The image reference. */}}
{{- define "interdict.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/*
The rules the operator needs in every namespace it watches: in the ClusterRole
when it watches all namespaces, in a Role per namespace otherwise. Keep
docs/install.md (RBAC table) and tests/chart.rs in step with this list.
*/}}
{{/*
The blocklist's ConfigMaps: NAME, then NAME-1 ... NAME-(maxShards-1), quoted and
comma-separated for a resourceNames list.
*/}}
{{- define "interdict.shardNames" -}}
{{- $names := list (.Values.blocklistName | quote) -}}
{{- range $i := untilStep 1 (int .Values.maxShards) 1 -}}
{{- $names = append $names (printf "%s-%d" $.Values.blocklistName $i | quote) -}}
{{- end -}}
{{- join ", " $names -}}
{{- end }}

{{- define "interdict.rules" -}}
# Read the bans, and hold them with the finalizer interdict.dev/record-deletion
# (server-side apply of metadata.finalizers only) so a deletion is recorded and
# leaves the blocklist before the object disappears.
- apiGroups: ["interdict.dev"]
  resources: ["userbans", "featureblocks"]
  verbs: ["list", "watch", "patch"]
# Read the exemptions, and hold them with the same finalizer, so that deleting
# one (which brings the bans it held back into force) is recorded too.
- apiGroups: ["interdict.dev"]
  resources: ["banexemptions"]
  verbs: ["list", "watch", "patch"]
# Read the appeals.
- apiGroups: ["interdict.dev"]
  resources: ["banappeals"]
  verbs: ["list", "watch"]
# Publish phase, window and conditions of every kind (server-side apply on the status subresource).
- apiGroups: ["interdict.dev"]
  resources: ["userbans/status", "featureblocks/status", "banexemptions/status", "banappeals/status"]
  verbs: ["patch"]
{{- if .Values.policies.enabled }}
# policies: read the BanPolicies, write their statuses, and create the bans they decide on.
- apiGroups: ["interdict.dev"]
  resources: ["banpolicies"]
  verbs: ["list", "watch"]
- apiGroups: ["interdict.dev"]
  resources: ["banpolicies/status"]
  verbs: ["patch"]
- apiGroups: ["interdict.dev"]
  resources: ["userbans", "featureblocks"]
  verbs: ["create"]
{{- end }}
{{- if .Values.actors.enabled }}
# actors: record who deletes a ban or an exemption. "record-deletion" is not an
# API verb: the admission policy actor-annotations.interdict.dev lets only its
# holders write the interdict.dev/deleted-by annotation.
- apiGroups: ["interdict.dev"]
  resources: ["userbans", "featureblocks", "banexemptions"]
  verbs: ["record-deletion"]
{{- end }}
{{- if .Values.retention.period }}
# retention: delete ended bans, decided appeals and ended exemptions once their
# period has passed (never anything in force; see docs/operations.md).
- apiGroups: ["interdict.dev"]
  resources: ["userbans", "featureblocks", "banexemptions", "banappeals"]
  verbs: ["delete"]
{{- end }}
# The blocklist ConfigMap, and only it: watch its metadata (a metadata.name field
# selector, which RBAC matches against resourceNames), read its data when someone
# else may have changed it, write it, and create it the
# first time a namespace has bans. The operator creates it by server-side apply,
# whose create check carries the name, so create is restricted by name too (a
# plain POST create would not be; tests/chart.rs checks both).
- apiGroups: [""]
  resources: ["configmaps"]
  resourceNames: [{{ include "interdict.shardNames" . }}]
  verbs: ["create", "get", "list", "watch", "patch"]
# Record every transition as an Event on the ban (and write failures on the ConfigMap).
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create"]
{{- if .Values.nudgePods.enabled }}
# nudgePods: list the pods that mount the blocklist and annotate them (merge patch) so kubelet refreshes the mount at once.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list", "patch"]
{{- end }}
{{- end }}

{{/* The pod-wiring webhook's Service, and the Secret with its serving certificate. */}}
{{- define "interdict.webhookService" -}}
{{- printf "%s-webhook" (include "interdict.fullname" .) }}
{{- end }}
{{- define "interdict.webhookSecret" -}}
{{- printf "%s-webhook-tls" (include "interdict.fullname" .) }}
{{- end }}
{{/* Where the webhook's certificate Secret is mounted (a directory: kubelet refreshes it). */}}
{{- define "interdict.webhookCertDir" -}}/etc/interdict/webhook{{- end }}

{{/* "true" when a notification sink (webhook or email) is configured, else empty. */}}
{{- define "interdict.notify" -}}
{{- if or .Values.notifications.webhook .Values.notifications.email }}true{{ end }}
{{- end }}

{{/*
Paths of the notification files in the pod. The ConfigMap is a directory mount;
the secrets are single files (subPath) next to it. Keep docs/install.md and
tests/chart.rs in step.
*/}}
{{- define "interdict.notifyConfigDir" -}}/etc/interdict/notify/config{{- end }}
{{- define "interdict.notifyWebhookSecret" -}}/etc/interdict/notify/webhook-secret{{- end }}
{{- define "interdict.notifySmtpPassword" -}}/etc/interdict/notify/smtp-password{{- end }}

{{/*
The --notify-config file (docs/notifications.md), built from
.Values.notifications: secrets are referred to by their mounted path (webhook
secret, SMTP password) or environment variable (SMTP_USERNAME), never inlined.
*/}}
{{- define "interdict.notifyConfig" -}}
{{- $config := dict }}
{{- with .Values.notifications.webhook }}
{{- $webhook := dict "url" .url "secretFile" (include "interdict.notifyWebhookSecret" $) }}
{{- if hasKey . "timeoutSeconds" }}
{{- $_ := set $webhook "timeoutSeconds" (int .timeoutSeconds) }}
{{- end }}
{{- $_ := set $config "webhook" $webhook }}
{{- end }}
{{- with .Values.notifications.email }}
{{- $email := dict "host" .host "from" .from }}
{{- if hasKey . "port" }}
{{- $_ := set $email "port" (int .port) }}
{{- end }}
{{- range $key := list "tls" "helloName" }}
{{- if hasKey $.Values.notifications.email $key }}
{{- $_ := set $email $key (get $.Values.notifications.email $key) }}
{{- end }}
{{- end }}
{{- if .credentialsSecretName }}
{{- $_ := set $email "usernameEnv" "SMTP_USERNAME" }}
{{- $_ := set $email "passwordFile" (include "interdict.notifySmtpPassword" $) }}
{{- end }}
{{- if hasKey . "timeoutSeconds" }}
{{- $_ := set $email "timeoutSeconds" (int .timeoutSeconds) }}
{{- end }}
{{- $_ := set $config "email" $email }}
{{- end }}
{{- toYaml $config }}
{{- end }}

{{/*
The blocklist namespace label as a selector ("key=value"), empty when off or
when only listed namespaces are watched (they always get a blocklist).
*/}}
{{- define "interdict.blocklistNamespaceLabel" -}}
{{- if not .Values.watchNamespaces -}}
{{- range $key, $value := .Values.blocklistNamespaceLabel -}}
{{- printf "%s=%s" $key $value -}}
{{- end -}}
{{- end -}}
{{- end }}

{{/*
The audit file's directory in the pod, and the PersistentVolumeClaim that
holds it with audit.file.persistence.enabled.
*/}}
{{- /* Where the email hash key Secret is mounted (a directory: a subPath mount is never refreshed, and the operator reads it at start-up anyway). */}}
{{- define "interdict.emailHashKeyDir" -}}/etc/interdict/email-hash-key{{- end }}

{{- define "interdict.auditDir" -}}/var/log/interdict{{- end }}
{{- define "interdict.auditClaim" -}}
{{- printf "%s-audit" (include "interdict.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
"true" when the audit files live on the claim, else empty. Fails rendering on
combinations that cannot work: the claim without the file, or with more than
one replica (the file is one hash chain with one writer, and a ReadWriteOnce
volume attaches to one node; a shared ReadWriteMany volume would have every
replica continue the same chain from its own stale end).
*/}}
{{- define "interdict.auditPersistence" -}}
{{- with .Values.audit.file }}
{{- if .persistence.enabled }}
{{- if not .enabled }}
{{- fail "audit.file.persistence.enabled needs audit.file.enabled: true (there is no audit file to keep)" }}
{{- end }}
{{- if gt (int $.Values.replicas) 1 }}
{{- fail (printf "audit.file.persistence.enabled needs replicas: 1 (got %d): the audit file is one hash chain with one writer. With more replicas keep persistence off (an emptyDir per pod) and keep the copy of the audit lines the operator writes to stdout" (int $.Values.replicas)) }}
{{- end }}
{{- "true" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Labels selecting the console pods: a name of their own, so the operator's selectors never match them. */}}
{{- define "interdict.consoleSelectorLabels" -}}
app.kubernetes.io/name: {{ printf "%s-console" (include "interdict.name" .) | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels on the console's objects. */}}
{{- define "interdict.consoleLabels" -}}
helm.sh/chart: {{ include "interdict.chart" . }}
{{ include "interdict.consoleSelectorLabels" . }}
app.kubernetes.io/component: console
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: interdict
{{- end }}
