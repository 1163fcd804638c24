#!/usr/bin/env bash
# Prints the directory holding kube-apiserver, etcd and kubectl for the test
# control plane, building them from their Go modules when they are not cached.
#
# Order of preference:
#   1. $KUBEBUILDER_ASSETS, when it holds kube-apiserver and etcd (setup-envtest users);
#   2. the cache for the pinned versions below;
#   3. a fresh `go build` into that cache (minutes on two cores, paid once).
#
# Only the Go module proxy configured on this machine is used: no binaries are
# downloaded from release pages.
set -euo pipefail

K8S_VERSION="${INTERDICT_K8S_VERSION:-v1.34.4}"
ETCD_VERSION="${INTERDICT_ETCD_VERSION:-v3.6.4}"
CACHE_ROOT="${INTERDICT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/interdict}"
# Bump RECIPE when the way the binaries are built changes, so caches rebuild.
RECIPE=2
BIN_DIR="$CACHE_ROOT/control-plane/k8s-$K8S_VERSION-etcd-$ETCD_VERSION-r$RECIPE"

log() { echo "control-plane: $*" >&2; }

has_binaries() { [ -x "$1/kube-apiserver" ] && [ -x "$1/etcd" ]; }

if [ -n "${KUBEBUILDER_ASSETS:-}" ]; then
  if has_binaries "$KUBEBUILDER_ASSETS"; then
    echo "$KUBEBUILDER_ASSETS"
    exit 0
  fi
  log "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS lacks kube-apiserver or etcd; using the pinned build instead"
fi

if has_binaries "$BIN_DIR" && [ -x "$BIN_DIR/kubectl" ]; then
  echo "$BIN_DIR"
  exit 0
fi

command -v go >/dev/null || { log "the Go toolchain is required to build the control plane (or set KUBEBUILDER_ASSETS)"; exit 1; }

mkdir -p "$BIN_DIR"
# A lock keeps two concurrent test runs from building the same binaries twice.
exec 9>"$BIN_DIR/.build.lock"
flock 9
if has_binaries "$BIN_DIR" && [ -x "$BIN_DIR/kubectl" ]; then
  echo "$BIN_DIR"
  exit 0
fi

work="$CACHE_ROOT/control-plane/build"
export GOFLAGS="-mod=mod -buildvcs=false"
export CGO_ENABLED=0

# The published go.mod of these projects points their sibling modules at local
# directories (`=> ./staging/...`). A throw-away module that replaces each of them
# with its published version at the same release makes them buildable.
replace_block() { # $1 = go.mod of the main module, $2 = version of siblings
  sed -n '/^replace (/,/^)/p' "$1" | awk -v v="$2" '$2 == "=>" && $3 ~ /^\.\// { print "replace " $1 " => " $1 " " v }'
}

build_module() { # $1 = name, $2 = module, $3 = version, $4 = sibling version, $5 = -o target, $6 = extra ldflags, rest = packages
  local name="$1" module="$2" version="$3" sibling_version="$4" output="$5" ldflags="$6"; shift 6
  local dir="$work/$name"
  rm -rf "$dir"; mkdir -p "$dir"
  local gomod
  gomod=$(go mod download -json "$module@$version" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
  {
    echo "module interdict.dev/control-plane-build/$name"
    echo
    sed -n 's/^go \(.*\)/go \1/p' "$gomod" | head -n1
    echo
    echo "require $module $version"
    replace_block "$gomod" "$sibling_version"
  } >"$dir/go.mod"
  log "building $* at $version (this takes several minutes the first time)"
  (cd "$dir" && go build -trimpath -ldflags="-s -w $ldflags" -o "$output" "$@")
}

if [ ! -x "$BIN_DIR/etcd" ]; then
  build_module etcd go.etcd.io/etcd/server/v3 "$ETCD_VERSION" "$ETCD_VERSION" "$BIN_DIR/etcd" "" go.etcd.io/etcd/server/v3
fi
if [ ! -x "$BIN_DIR/kube-apiserver" ] || [ ! -x "$BIN_DIR/kubectl" ]; then
  # Release builds stamp their version; without it they report v0.0.0-master and
  # `kubectl version` (and any client that parses /version) fails.
  minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
  stamp=""
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    stamp+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
  done
  build_module kubernetes k8s.io/kubernetes "$K8S_VERSION" "v0.${K8S_VERSION#v1.}" "$BIN_DIR/" "$stamp" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl
fi

has_binaries "$BIN_DIR" || { log "build finished without the binaries in $BIN_DIR"; exit 1; }
echo "$BIN_DIR"
