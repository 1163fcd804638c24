#!/usr/bin/env bash
# Prints the path of a Python interpreter with the project's Python test tools
# installed, creating a virtual environment on first use:
#   - aiosmtpd, the SMTP receiver of tests/notify.rs;
#   - mypy, which `make python-test` runs in strict mode on the Python reader;
#   - uvicorn and starlette, the real ASGI server and framework the reader's
#     ASGI middleware is tested under (the package itself depends on neither);
#   - hypothesis, the property tests of the reader (tests/test_properties.py).
#
# The venv lives in ${INTERDICT_CACHE_DIR:-~/.cache/interdict}/python-venv, beside
# the other tools the project builds once (INTERDICT_PYTHON_TOOLS_DIR names the
# venv directory itself). Outside target/ it survives `cargo clean`.
#
# Idempotent and safe to run concurrently: a lock serialises creation, and a
# stamp file holding a hash of the pinned requirements and of the interpreter's
# version says the venv is complete. Change a pin (or upgrade python3) and the
# next run rebuilds the venv. Packages come from the package index pip is
# configured with on this machine (pip.conf / PIP_* variables).
#
# Exit status is non-zero, with the reason on stderr, when the venv cannot be
# created: callers (tests) fail on it rather than skipping.
set -euo pipefail

# Every package of the venv, dependencies included, so two machines get the same
# tools. starlette and uvicorn need Python >= 3.11, mypy >= 3.10.
REQUIREMENTS=(
  # SMTP receiver
  "aiosmtpd==1.4.6"
  "atpublic==5.0"
  "attrs==24.2.0"
  # type checker
  "mypy==2.4.1"
  "mypy_extensions==1.2.0"
  "typing_extensions==4.16.0"
  "pathspec==1.1.1"
  "librt==0.17.0"
  "ast-serialize==0.13.1"
  # ASGI server and framework for the middleware's tests
  "uvicorn==0.55.0"
  "click==8.5.1"
  "h11==0.16.0"
  "starlette==1.10.0"
  "anyio==4.16.0"
  "idna==3.21"
  # property tests of the reader
  "hypothesis==6.170.27"
  "sortedcontainers==2.4.0"
)

CACHE_ROOT="${INTERDICT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/interdict}"
VENV="${INTERDICT_PYTHON_TOOLS_DIR:-$CACHE_ROOT/python-venv}"
PYTHON="$VENV/bin/python"
STAMP="$VENV/.requirements.sha256"
PYTHON3="${PYTHON3:-python3}"

log() { echo "python-tools: $*" >&2; }

command -v "$PYTHON3" >/dev/null || { log "$PYTHON3 is required (Python >= 3.11 with the venv module)"; exit 1; }

# The interpreter's version is part of the hash: a venv keeps pointing at the
# python3 it was made from, so a new one needs a new venv.
wanted="$({ printf '%s\n' "${REQUIREMENTS[@]}"; "$PYTHON3" -c 'import sys; print(sys.version)'; } \
  | sha256sum | cut -d' ' -f1)"

ready() { [ -x "$PYTHON" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$wanted" ]; }

if ready; then
  echo "$PYTHON"
  exit 0
fi

mkdir -p "$(dirname "$VENV")"
exec 9>"$VENV.lock"
flock 9
# Someone else may have finished while we waited for the lock.
if ready; then
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
