#!/usr/bin/env bash
# `make run`: the whole product on this machine in one command.
#   - KUBECONFIG set: use that cluster. Otherwise start (or reuse) the dev cluster.
#   - install the CRDs, start the operator, apply examples/ into a demo namespace,
#   - print the resulting blocklist and a few decisions, then keep the operator
#     running until Ctrl-C.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NAMESPACE="${INTERDICT_DEMO_NAMESPACE:-interdict-demo}"
DEV_DIR="${DEV_CLUSTER_DIR:-$ROOT/target/dev-cluster}"
RUN_DIR="$ROOT/target/run"
BLOCKLIST="interdict-blocklist"
log() { echo "==> $*" >&2; }

mkdir -p "$RUN_DIR"
BIN_DIR="$("$ROOT/hack/control-plane-bin.sh")"
KUBECTL="$BIN_DIR/kubectl"; [ -x "$KUBECTL" ] || KUBECTL=kubectl

if [ -n "${KUBECONFIG:-}" ]; then
  log "using the cluster of KUBECONFIG=$KUBECONFIG"
else
  log "no KUBECONFIG set: starting the local control plane in $DEV_DIR"
  KUBECONFIG="$("$ROOT/hack/dev-cluster.sh" up --dir "$DEV_DIR")"
  export KUBECONFIG
fi
k() { "$KUBECTL" "$@"; }

log "building the operator"
cargo build --quiet --bin interdict --manifest-path "$ROOT/Cargo.toml"
INTERDICT="$ROOT/target/debug/interdict"

log "installing the CRDs"
k apply --server-side --field-manager=interdict-install -f "$ROOT/crds/" >/dev/null
# kubectl wait fails at once when a CRD has no condition yet: ask again.
for attempt in $(seq 30); do
  k wait --for=condition=Established --timeout=60s crd/userbans.interdict.dev crd/featureblocks.interdict.dev \
    crd/banexemptions.interdict.dev crd/banappeals.interdict.dev >/dev/null 2>&1 && break
  [ "$attempt" = 30 ] && { log "the CRDs did not become established"; exit 1; }
  sleep 1
done

log "starting the operator (log: $RUN_DIR/operator.log, audit: $RUN_DIR/audit.jsonl)"
"$INTERDICT" run --audit-log "$RUN_DIR/audit.jsonl" >/dev/null 2>"$RUN_DIR/operator.log" &
OPERATOR=$!
trap 'kill "$OPERATOR" 2>/dev/null; wait "$OPERATOR" 2>/dev/null; log "operator stopped"' EXIT
trap "exit 0" INT TERM  # Ctrl-C is the normal way to stop: not a failure

log "applying examples/ to namespace $NAMESPACE"
k create namespace "$NAMESPACE" --dry-run=client -o yaml | k apply -f - >/dev/null
k apply -n "$NAMESPACE" -f "$ROOT/examples/" >/dev/null
if ! k wait -n "$NAMESPACE" --for=condition=Ready --timeout=60s ub --all >/dev/null ||
   ! k wait -n "$NAMESPACE" --for=condition=Ready --timeout=60s fb --all >/dev/null; then
  log "the bans did not become Ready; operator log:"; tail -n 20 "$RUN_DIR/operator.log" >&2; exit 1
fi

echo
k get interdict -n "$NAMESPACE"
echo
log "blocklist ConfigMap $NAMESPACE/$BLOCKLIST, key blocklist.json:"
k get configmap -n "$NAMESPACE" "$BLOCKLIST" -o jsonpath='{.data.blocklist\.json}'
log "plain list suspended-user-ids.txt:"
k get configmap -n "$NAMESPACE" "$BLOCKLIST" -o jsonpath='{.data.suspended-user-ids\.txt}'

# The files an application pod would see in its mounted volume.
rm -rf "$RUN_DIR/blocklist"; mkdir -p "$RUN_DIR/blocklist"
k get configmap -n "$NAMESPACE" "$BLOCKLIST" -o json | python3 -c '
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
for key, value in json.load(sys.stdin)["data"].items():
    (out / key).write_text(value)' "$RUN_DIR/blocklist"
echo
log "decisions, as an application asks them (interdict check --dir $RUN_DIR/blocklist ...):"
ask() { printf '  %-62s -> ' "$*"; "$INTERDICT" check --dir "$RUN_DIR/blocklist" "$@"; }
ask --feature mentorship-service --user 124 --scope academy=downtown-miami
ask --feature mentorship-service --user 124 --scope academy=madrid
ask --feature publish --username spam-o-matic
ask --feature signup --email " SPAMMER+again@example.com"
ask --feature comments --ip 203.0.113.77

cat <<MSG

The operator keeps running; in another shell:
  export KUBECONFIG=$KUBECONFIG
  $KUBECTL get interdict -n $NAMESPACE
  $KUBECTL describe ub -n $NAMESPACE
  $INTERDICT check --dir $RUN_DIR/blocklist --feature comments --user 123
Stop with Ctrl-C (the dev cluster stays up: make dev-cluster-down stops it).
MSG
wait "$OPERATOR"
