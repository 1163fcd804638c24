#!/usr/bin/env bash
# Prints the path of a `helm` (v3) binary, building it from its Go module when it
# is not cached. Used by the chart tests (tests/chart_*.rs) and docs/install.md.
#
# Order of preference:
#   1. $HELM, when it is set and executable;
#   2. the cache for the pinned version below;
#   3. a fresh `go build` into that cache (a few minutes on two cores, paid once).
#
# Only the Go module proxy configured on this machine is used: no binaries are
# downloaded from release pages.
set -euo pipefail

HELM_VERSION="${INTERDICT_HELM_VERSION:-v3.22.0}"
CACHE_ROOT="${INTERDICT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/interdict}"
BIN_DIR="$CACHE_ROOT/helm/$HELM_VERSION"
BIN="$BIN_DIR/helm"

log() { echo "helm-bin: $*" >&2; }

if [ -n "${HELM:-}" ]; then
  if [ -f "$HELM" ] && [ -x "$HELM" ]; then
    echo "$HELM"
    exit 0
  fi
  log "HELM=$HELM is not an executable file; using the pinned build instead"
fi

if [ -x "$BIN" ]; then
  echo "$BIN"
  exit 0
fi

command -v go >/dev/null || { log "the Go toolchain is required to build helm (or set HELM to a helm v3 binary)"; exit 1; }

mkdir -p "$BIN_DIR"
# A lock keeps two concurrent test runs from building the same binary twice.
exec 9>"$BIN_DIR/.build.lock"
flock 9
if [ -x "$BIN" ]; then
  echo "$BIN"
  exit 0
fi

export GOFLAGS="-mod=mod -buildvcs=false"
export CGO_ENABLED=0

# A throw-away module requiring helm at the pinned release: `go build -o` into the
# cache, with the same version stamps as helm's own Makefile (`helm version`, and
# the Kubernetes version `helm lint`/`template` assume without a cluster).
work="$CACHE_ROOT/helm/build-$HELM_VERSION"
rm -rf "$work"; mkdir -p "$work"
gomod=$(go mod download -json "helm.sh/helm/v3@$HELM_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
[ -n "$gomod" ] || { log "could not download helm.sh/helm/v3@$HELM_VERSION from the Go module proxy"; exit 1; }
{
  echo "module interdict.dev/helm-build"
  echo
  sed -n 's/^go \(.*\)/go \1/p' "$gomod" | head -n1
  echo
  echo "require helm.sh/helm/v3 $HELM_VERSION"
} >"$work/go.mod"

client_go=$(awk '$1 == "k8s.io/client-go" { print $2; exit }' "$gomod")  # v0.MINOR.PATCH
k8s_minor="${client_go#v0.}"; k8s_minor="${k8s_minor%%.*}"
ldflags="-s -w"
ldflags+=" -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
ldflags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
if [ -n "$k8s_minor" ]; then
  for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$k8s_minor"
  done
fi

log "building helm $HELM_VERSION (this takes a few minutes the first time)"
(cd "$work" && go build -trimpath -ldflags="$ldflags" -o "$BIN.tmp" helm.sh/helm/v3/cmd/helm)
mv -f "$BIN.tmp" "$BIN"
rm -rf "$work"

[ -x "$BIN" ] || { log "build finished without $BIN"; exit 1; }
echo "$BIN"
