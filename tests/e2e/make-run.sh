#!/usr/bin/env bash
# End-to-end: `make run` on its own control plane must end up printing the
# blocklist of examples/ and the decisions, as a new user would see them.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
DIR="$ROOT/target/e2e-make-run"
OUT="$DIR/output.txt"
mkdir -p "$DIR"
unset KUBECONFIG

cleanup() {
  [ -n "${RUN_PID:-}" ] && kill -INT -- "-$RUN_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  "$ROOT/hack/dev-cluster.sh" down --dir "$DIR/cluster" >/dev/null 2>&1 || true
}
trap cleanup EXIT

# Its own process group, so the whole `make run` tree can be interrupted like Ctrl-C does.
setsid env DEV_CLUSTER_DIR="$DIR/cluster" make -C "$ROOT" --no-print-directory run >"$OUT" 2>&1 &
RUN_PID=$!

for _ in $(seq 300); do
  grep -q "The operator keeps running" "$OUT" && break
  kill -0 "$RUN_PID" 2>/dev/null || { cat "$OUT"; echo "FAIL: make run exited early"; exit 1; }
  sleep 1
done

fail=0
expect() { grep -qF -- "$1" "$OUT" || { echo "FAIL: make run output lacks: $1"; fail=1; }; }
expect '"format":"interdict.dev/blocklist/v1"'
expect '"id":"FeatureBlock/'
expect '"id":"UserBan/'
expect '"allowed":false'
expect '"allowed":true'
if grep -qi 'spammer+again@example.com\|spammer@example.com' <(sed -n '/blocklist.json/,/decisions/p' "$OUT"); then
  echo "FAIL: a clear email address appears in the blocklist"; fail=1
fi
if [ "$fail" = 0 ]; then
  echo "e2e make run: 1 passed, 0 failed"
else
  cat "$OUT"; echo "e2e make run: 0 passed, 1 failed"; exit 1
fi
