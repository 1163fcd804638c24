#!/usr/bin/env bash
# Prints the path of a Python interpreter with the project's Python test tools
# installed (today: aiosmtpd, the SMTP receiver of tests/notify.rs), creating a
# virtual environment under target/python-tools/ on first use.
#
# Idempotent and safe to run concurrently: a lock serialises creation, and a
# stamp file holding the pinned requirements says the venv is complete. Change a
# pin and the next run rebuilds the venv. Packages come from the package index
# pip is configured with on this machine (pip.conf / PIP_* variables).
#
# Exit status is non-zero, with the reason on stderr, when the venv cannot be
# created: callers (tests) fail on it rather than skipping.
set -euo pipefail

# aiosmtpd and its dependencies, pinned to versions that support Python >= 3.8.
REQUIREMENTS=(
  "aiosmtpd==1.4.6"
  "atpublic==5.0"
  "attrs==24.2.0"
)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${INTERDICT_PYTHON_TOOLS_DIR:-$ROOT/target/python-tools}"
PYTHON="$VENV/bin/python"
STAMP="$VENV/.requirements"
PYTHON3="${PYTHON3:-python3}"

log() { echo "python-tools: $*" >&2; }

wanted="$(printf '%s\n' "${REQUIREMENTS[@]}")"
if [ -x "$PYTHON" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$wanted" ]; then
  echo "$PYTHON"
  exit 0
fi

command -v "$PYTHON3" >/dev/null || { log "$PYTHON3 is required (Python >= 3.8 with the venv module)"; exit 1; }

mkdir -p "$(dirname "$VENV")"
exec 9>"$VENV.lock"
flock 9
# Someone else may have finished while we waited for the lock.
if [ -x "$PYTHON" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$wanted" ]; then
  echo "$PYTHON"
  exit 0
fi

log "creating $VENV"
rm -rf "$VENV"
if ! "$PYTHON3" -m venv "$VENV" >&2; then
  log "'$PYTHON3 -m venv' failed; on Debian/Ubuntu install the python3-venv package"
  exit 1
fi
if ! "$PYTHON" -m pip install --quiet --disable-pip-version-check "${REQUIREMENTS[@]}" >&2; then
  log "pip could not install ${REQUIREMENTS[*]} (is the package index pip is configured with reachable?)"
  exit 1
fi
printf '%s\n' "$wanted" >"$STAMP"
log "installed ${REQUIREMENTS[*]}"
echo "$PYTHON"
