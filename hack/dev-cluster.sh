#!/usr/bin/env bash
# A throw-away local control plane (etcd + kube-apiserver, no kubelet, no
# controller-manager) on loopback, for development and integration tests.
#
#   hack/dev-cluster.sh up      [--dir DIR] [--owner-pid PID]   # stdout: kubeconfig path
#   hack/dev-cluster.sh down    [--dir DIR]
#   hack/dev-cluster.sh status  [--dir DIR]
#   hack/dev-cluster.sh kubectl [--dir DIR] ARGS...
#   hack/dev-cluster.sh stop-apiserver  [--dir DIR]   # etcd keeps running
#   hack/dev-cluster.sh start-apiserver [--dir DIR]   # same port and flags
#   hack/dev-cluster.sh stop-etcd       [--dir DIR]   # kube-apiserver keeps running
#   hack/dev-cluster.sh start-etcd      [--dir DIR]   # same port, flags and data
#
# DIR defaults to <repo>/target/dev-cluster. Every cluster uses its own free
# ports, so several DIRs can run side by side.
set -euo pipefail

HACK="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SCRIPT="$HACK/$(basename "${BASH_SOURCE[0]}")"
log() { echo "dev-cluster: $*" >&2; }
die() { log "error: $*"; exit 1; }
usage() { sed -n '5,12s/^#   //p' "$SCRIPT" >&2; exit 2; }

cmd="${1:-}"; [ $# -gt 0 ] && shift
case "$cmd" in up|down|status|kubectl|stop-apiserver|start-apiserver|stop-etcd|start-etcd|__watchdog) ;; *) usage ;; esac
DIR="$HACK/../target/dev-cluster"; OWNER=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) [ $# -ge 2 ] || usage; DIR="$2"; shift 2 ;;
    --owner-pid) [ $# -ge 2 ] || usage; OWNER="$2"; shift 2 ;;
    *) [ "$cmd" = kubectl ] && break; usage ;;
  esac
done
[ -z "$OWNER" ] || [[ "$OWNER" =~ ^[0-9]+$ ]] || die "--owner-pid must be a process id"
if [ ! -d "$DIR" ] && [ "$cmd" != up ]; then
  log "no cluster in $DIR"; [ "$cmd" = down ] && exit 0; exit 1
fi
# Physical and normalised: pid checks match DIR against daemon command lines.
mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd -P)"
KUBECONFIG_PATH="$DIR/kubeconfig"

# A zombie counts as dead: an orphan's reaper (PID 1 here) may be slow to reap.
alive() { local st; st="$(ps -o stat= -p "$1" 2>/dev/null)" && [[ "$st" != Z* ]]; }

# A pid file may outlive its process (reboot, kill -9) and the pid be reused:
# only a live process whose command line names DIR counts as ours.
live_pid() { # $1 = pid file; prints the pid when it is ours and alive
  local pid
  pid="$(cat "$1" 2>/dev/null)" || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] && ps -ww -o args= -p "$pid" 2>/dev/null | grep -qF "$DIR" && echo "$pid"
}

server_url() { sed -n 's/^ *server: //p' "$KUBECONFIG_PATH" 2>/dev/null; }

ready() {
  local url token
  url="$(server_url)" && [ -n "$url" ] || return 1
  token="$(cut -d, -f1 "$DIR/pki/tokens.csv" 2>/dev/null)" || return 1
  [ "$(curl -fsS --max-time 2 --cacert "$DIR/pki/ca.crt" -H "Authorization: Bearer $token" "$url/readyz" 2>/dev/null)" = ok ]
}

running() { live_pid "$DIR/etcd.pid" >/dev/null && live_pid "$DIR/kube-apiserver.pid" >/dev/null && ready; }

# spawn makes every daemon the leader of its own session and process group:
# signal the group, so nothing it forked survives it.
signal() { kill "-$1" -- "-$2" 2>/dev/null || kill "-$1" "$2" 2>/dev/null || true; }

stop() { # $1 = name; TERM, then KILL after 10 s
  local pid
  if pid="$(live_pid "$DIR/$1.pid")"; then
    log "stopping $1 (pid $pid)"
    signal TERM "$pid"
    for _ in $(seq 100); do alive "$pid" || break; sleep 0.1; done
    alive "$pid" && { log "$1 ignored SIGTERM; killing it"; signal KILL "$pid"; }
  fi
  rm -f "$DIR/$1.pid"
}

do_down() {
  local wd
  # The watchdog of a cluster started by someone else must not outlive it and
  # later stop a new cluster in the same DIR; the watchdog itself is exempt.
  if wd="$(live_pid "$DIR/watchdog.pid")" && [ "$wd" != "$$" ]; then signal TERM "$wd"; fi
  rm -f "$DIR/watchdog.pid" "$DIR/owners"
  stop kube-apiserver
  stop etcd
  rm -rf "$DIR/etcd" "$KUBECONFIG_PATH" "$DIR/env" "$DIR/kube-apiserver.cmd" "$DIR/etcd.cmd"
}

free_ports() { # three distinct free loopback ports, held together so they differ
  python3 -c 'import socket
s=[socket.socket() for _ in range(3)]
[x.bind(("127.0.0.1",0)) for x in s]
print(" ".join(str(x.getsockname()[1]) for x in s))'
}

gen_pki() {
  local p="$DIR/pki"
  rm -rf "$p"; mkdir -p "$p"; chmod 700 "$p"
  openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj "/CN=interdict-dev-ca" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$p/ca.key" -out "$p/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" \
    -keyout "$p/apiserver.key" -out "$p/apiserver.csr" 2>/dev/null
  printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "extendedKeyUsage=serverAuth" \
    "keyUsage=critical,digitalSignature,keyEncipherment" "basicConstraints=CA:FALSE" >"$p/apiserver.ext"
  openssl x509 -req -in "$p/apiserver.csr" -CA "$p/ca.crt" -CAkey "$p/ca.key" -CAcreateserial \
    -days 365 -extfile "$p/apiserver.ext" -out "$p/apiserver.crt" 2>/dev/null
  openssl genrsa -out "$p/sa.key" 2048 2>/dev/null
  openssl rsa -in "$p/sa.key" -pubout -out "$p/sa.pub" 2>/dev/null
  echo "$(openssl rand -hex 32),interdict-admin,interdict-admin,system:masters" >"$p/tokens.csv"
}

spawn() { # $1 = name, rest = command; detached from our session and all our fds
  local name="$1"; shift
  # Any inherited fd (our lock, a caller's pipe) would live as long as the
  # daemon: close all above 2. The child writes its own pid, so the file holds
  # the daemon, not a wrapper.
  # shellcheck disable=SC2016 # expanded by the child shell
  setsid bash -c 'shopt -s nullglob; for fd in /proc/$$/fd/*; do fd=${fd##*/}
      [ "$fd" -le 2 ] || [ ! -e "/proc/$$/fd/$fd" ] || eval "exec $fd>&-"; done
    echo $$ >"$0"; exec "$@"' "$DIR/$name.pid" "$@" </dev/null >"$DIR/$name.log" 2>&1 &
  for _ in $(seq 50); do [ -s "$DIR/$name.pid" ] && return; sleep 0.1; done
  die "$name did not start; see $DIR/$name.log"
}

# Polls `$@` for up to 60 s. Returns 1 when one of our daemons lost a race for
# its port (the ports are free when picked, not reserved): worth a retry.
await() { # $1 = what, rest = check command
  local what="$1" start=$SECONDS name; shift
  while [ $((SECONDS - start)) -lt 60 ]; do
    "$@" && { log "$what after $((SECONDS - start)) s"; return 0; }
    for name in etcd kube-apiserver; do
      if [ ! -f "$DIR/$name.pid" ] || live_pid "$DIR/$name.pid" >/dev/null; then continue; fi
      log "$name exited; last lines of $DIR/$name.log:"; tail -n 5 "$DIR/$name.log" >&2
      grep -q "address already in use" "$DIR/$name.log" || die "$name failed to start"
      return 1
    done
    sleep 0.3
  done
  die "timed out waiting: $what; see $DIR/kube-apiserver.log and $DIR/etcd.log"
}

# Sets STARTED=false when a port was taken, so the caller retries. Not a return
# code: `f || ...` would switch off set -e inside f.
start_once() {
  local etcd_port peer_port api_port token url
  STARTED=false
  read -r etcd_port peer_port api_port <<<"$(free_ports)"
  rm -rf "$DIR/etcd"
  local etcd_args=("$BIN/etcd" --name=dev --data-dir="$DIR/etcd" --unsafe-no-fsync
    --listen-client-urls="http://127.0.0.1:$etcd_port" --advertise-client-urls="http://127.0.0.1:$etcd_port"
    --listen-peer-urls="http://127.0.0.1:$peer_port" --initial-advertise-peer-urls="http://127.0.0.1:$peer_port"
    --initial-cluster="dev=http://127.0.0.1:$peer_port")
  # Kept so that start-etcd brings it back on the same port, with its data.
  printf '%q ' "${etcd_args[@]}" >"$DIR/etcd.cmd"
  spawn etcd "${etcd_args[@]}"
  # Waiting here makes a failing etcd show up as such, not as an apiserver timeout.
  await "etcd healthy" curl -fs --max-time 1 "http://127.0.0.1:$etcd_port/health" -o /dev/null || return 0
  local api_args=("$BIN/kube-apiserver"
    --etcd-servers="http://127.0.0.1:$etcd_port"
    --secure-port="$api_port" --bind-address=127.0.0.1 --advertise-address=127.0.0.1
    --tls-cert-file="$DIR/pki/apiserver.crt" --tls-private-key-file="$DIR/pki/apiserver.key"
    --client-ca-file="$DIR/pki/ca.crt" --token-auth-file="$DIR/pki/tokens.csv" --authorization-mode=RBAC
    --service-account-issuer=https://kubernetes.default.svc.cluster.local
    --service-account-key-file="$DIR/pki/sa.pub" --service-account-signing-key-file="$DIR/pki/sa.key"
    --service-cluster-ip-range=10.0.0.0/24 --allow-privileged=true --endpoint-reconciler-type=none)
  # Kept so that start-apiserver brings it back on the same port with the same flags.
  printf '%q ' "${api_args[@]}" >"$DIR/kube-apiserver.cmd"
  spawn kube-apiserver "${api_args[@]}"
  # ^ the default reconciler fails every 10 s: Endpoints reject the loopback advertise address.
  url="https://127.0.0.1:$api_port"
  token="$(cut -d, -f1 "$DIR/pki/tokens.csv")"
  (umask 077; cat >"$KUBECONFIG_PATH") <<EOF
apiVersion: v1
kind: Config
clusters:
- name: interdict-dev
  cluster:
    server: $url
    certificate-authority-data: $(base64 <"$DIR/pki/ca.crt" | tr -d '\n')
users: [{name: interdict-admin, user: {token: "$token"}}]
contexts: [{name: interdict-dev, context: {cluster: interdict-dev, user: interdict-admin}}]
current-context: interdict-dev
EOF
  # shellcheck disable=SC2016 # $PATH is for whoever sources the file
  printf 'export KUBECONFIG=%q\nexport PATH=%q:"$PATH"\n' "$KUBECONFIG_PATH" "$BIN" >"$DIR/env"
  if await "kube-apiserver ready at $url" ready; then STARTED=true; fi
}

watchdog() {
  log "$(date -Is) watching owners $(tr '\n' ' ' <"$DIR/owners")"
  while :; do
    sleep 1
    owners_alive && continue
    exec 8>"$DIR/.lock"; flock 8
    # An `up` may have added an owner while we waited for the lock.
    owners_alive && { exec 8>&-; continue; }
    log "$(date -Is) all owners exited; stopping the cluster"
    do_down; exit 0
  done
}
owners_alive() { local p; while read -r p; do alive "$p" && return 0; done <"$DIR/owners" 2>/dev/null; return 1; }

case "$cmd" in
  up)
    [ -z "$OWNER" ] || alive "$OWNER" || die "owner pid $OWNER does not exist"
    # Serialises concurrent up/down on one DIR (and the watchdog's down).
    exec 8>"$DIR/.lock"; flock 8
    if running; then
      log "reusing the cluster in $DIR at $(server_url)"
      # An owned cluster lives until all its owners exit; an unowned one (a
      # developer's) is never stopped on behalf of a test that reused it.
      if [ -n "$OWNER" ]; then
        if live_pid "$DIR/watchdog.pid" >/dev/null; then grep -qx "$OWNER" "$DIR/owners" || echo "$OWNER" >>"$DIR/owners"
        else log "it was started without --owner-pid: it stays up after pid $OWNER exits"; fi
      fi
      echo "$KUBECONFIG_PATH"; exit 0
    fi
    do_down
    # Whatever makes `up` fail from here on, it must not leave daemons behind.
    trap '[ $? = 0 ] || do_down' EXIT
    BIN="$("$HACK/control-plane-bin.sh")"
    gen_pki
    log "starting etcd and kube-apiserver in $DIR"
    for attempt in 1 2 3; do
      start_once
      "$STARTED" && break
      [ "$attempt" = 3 ] && die "could not start the control plane; see the logs in $DIR"
      do_down; log "retrying (attempt $((attempt + 1)))"
    done
    if [ -n "$OWNER" ]; then
      echo "$OWNER" >"$DIR/owners"
      spawn watchdog "$SCRIPT" __watchdog --dir "$DIR"
      log "the cluster stops when pid $OWNER exits (watchdog log: $DIR/watchdog.log)"
    fi
    echo "$KUBECONFIG_PATH" ;;
  down)
    exec 8>"$DIR/.lock"; flock 8
    do_down; log "stopped (if it was running) in $DIR" ;;
  status)
    if running; then log "running at $(server_url)"; echo "$KUBECONFIG_PATH"
    else log "not running in $DIR"; exit 1; fi ;;
  kubectl)
    running || die "no cluster running in $DIR; run: $0 up --dir $DIR"
    BIN="$("$HACK/control-plane-bin.sh")"
    exec "$BIN/kubectl" --kubeconfig "$KUBECONFIG_PATH" "$@" ;;
  stop-apiserver)
    exec 8>"$DIR/.lock"; flock 8
    stop kube-apiserver ;;
  start-apiserver)
    exec 8>"$DIR/.lock"; flock 8
    [ -s "$DIR/kube-apiserver.cmd" ] || die "no cluster was started in $DIR"
    live_pid "$DIR/kube-apiserver.pid" >/dev/null && die "kube-apiserver is already running in $DIR"
    eval "api_args=($(cat "$DIR/kube-apiserver.cmd"))"
    spawn kube-apiserver "${api_args[@]}"
    await "kube-apiserver ready at $(server_url)" ready || die "kube-apiserver did not come back (its port was taken?)" ;;
  stop-etcd)
    exec 8>"$DIR/.lock"; flock 8
    stop etcd ;;
  start-etcd)
    exec 8>"$DIR/.lock"; flock 8
    [ -s "$DIR/etcd.cmd" ] || die "no cluster was started in $DIR"
    live_pid "$DIR/etcd.pid" >/dev/null && die "etcd is already running in $DIR"
    eval "etcd_args=($(cat "$DIR/etcd.cmd"))"
    spawn etcd "${etcd_args[@]}"
    url="$(sed -n 's/^.*--listen-client-urls=\([^ ]*\).*$/\1/p' "$DIR/etcd.cmd")"
    await "etcd healthy" curl -fs --max-time 1 "$url/health" -o /dev/null || die "etcd did not come back (its port was taken?)" ;;
  __watchdog) watchdog ;;
esac
