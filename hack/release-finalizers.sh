#!/usr/bin/env bash
# Removes the operator's finalizer (interdict.dev/record-deletion) from every
# UserBan, FeatureBlock and BanExemption, so they can be deleted once the operator is gone
# (uninstalling). Other finalizers are kept. Uses the current kubectl context;
# pass kubectl flags (e.g. --kubeconfig FILE, --context NAME) as arguments.
# Every namespace, or only those given with --namespace.
#
#   hack/release-finalizers.sh [--namespace NS]... [KUBECTL FLAGS...]
set -euo pipefail
FINALIZER=interdict.dev/record-deletion
KUBECTL=${KUBECTL:-kubectl}
k() { "$KUBECTL" "$@"; }

scopes=()
flags=()
while [ $# -gt 0 ]; do
  case "$1" in
    --namespace|-n) [ $# -ge 2 ] || { echo "--namespace needs a value" >&2; exit 2; }
      scopes+=("-n" "$2"); shift 2 ;;
    *) flags+=("$1"); shift ;;
  esac
done
[ ${#scopes[@]} -gt 0 ] || scopes=("-A")
set -- "${flags[@]+"${flags[@]}"}"

list() {
  k "$@" get userbans.interdict.dev,featureblocks.interdict.dev,banexemptions.interdict.dev \
    -o jsonpath='{range .items[*]}{.kind}{" "}{.metadata.namespace}{" "}{.metadata.name}{" "}{.metadata.finalizers[*]}{"\n"}{end}'
}

released=0
while read -r kind namespace name finalizers; do
  [ -n "$name" ] || continue
  case " $finalizers " in *" $FINALIZER "*) ;; *) continue ;; esac
  kept=""
  for f in $finalizers; do
    [ "$f" = "$FINALIZER" ] || kept="$kept${kept:+,}\"$f\""
  done
  k "$@" patch "$kind" "$name" -n "$namespace" --type=merge \
    -p "{\"metadata\":{\"finalizers\":[$kept]}}" >/dev/null
  echo "released $kind $namespace/$name"
  released=$((released + 1))
done < <(
  if [ "${scopes[0]}" = "-A" ]; then list "$@" -A
  else for ((i = 1; i < ${#scopes[@]}; i += 2)); do list "$@" -n "${scopes[$i]}"; done; fi
)
echo "$released object(s) released"
