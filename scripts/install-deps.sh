#!/usr/bin/env bash
# Install what regauth needs to run and to be tested, on Debian 12 or Ubuntu:
# the system packages (registry, clients, nginx, chromium, load tools, the
# PostgreSQL server binaries for the PostgreSQL backend's tests) and a
# virtualenv at .venv with the project and its test extra.
#
# Idempotent: packages already installed are left alone (and `apt-get update`
# is skipped when nothing is missing); the pip step is skipped while
# pyproject.toml, the interpreter and the checkout path are unchanged.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD

log() { printf 'install-deps: %s\n' "$*" >&2; }

# --- system packages --------------------------------------------------------

# Each entry is one requirement; "a|b" means any one of them will do, and the
# first one with an install candidate is installed when none is present.
# (Debian 13 and recent Ubuntu ship nginx without the -light flavour.)
REQUIREMENTS=(
    python3
    python3-venv
    docker-registry
    skopeo
    podman
    "nginx-light|nginx-core|nginx-full|nginx-extras|nginx"
    docker.io
    "chromium|chromium-browser"
    curl
    wrk
    apache2-utils
    ca-certificates
    uidmap
    # TLS and service-file tests: ctr, systemd-analyze, docker-compose config.
    containerd
    systemd
    docker-compose
    # The container image test: a Debian base made from Debian's packages.
    mmdebstrap
    # Only the server binaries are used (tests start their own throwaway
    # server); the cluster the package may create by itself is never needed.
    postgresql
    prometheus
)

if [ "$(id -u)" -eq 0 ]; then
    AS_ROOT=()
elif command -v sudo >/dev/null 2>&1; then
    AS_ROOT=(sudo)
else
    AS_ROOT=()
fi

is_installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

has_candidate() {
    local candidate
    candidate=$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2; exit}')
    [ -n "$candidate" ] && [ "$candidate" != "(none)" ]
}

missing=()
for requirement in "${REQUIREMENTS[@]}"; do
    IFS='|' read -r -a choices <<<"$requirement"
    satisfied=no
    for package in "${choices[@]}"; do
        if is_installed "$package"; then
            satisfied=yes
            break
        fi
    done
    if [ "$satisfied" = no ]; then
        missing+=("$requirement")
    fi
done

if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ] && [ "${#AS_ROOT[@]}" -eq 0 ]; then
        log "missing packages (${missing[*]}) and neither root nor sudo is available"
        exit 1
    fi
    log "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    "${AS_ROOT[@]}" apt-get update -q
    to_install=()
    for requirement in "${missing[@]}"; do
        IFS='|' read -r -a choices <<<"$requirement"
        chosen=""
        for package in "${choices[@]}"; do
            if has_candidate "$package"; then
                chosen=$package
                break
            fi
        done
        if [ -z "$chosen" ]; then
            log "no installable package for '$requirement' in the configured apt sources"
            exit 1
        fi
        to_install+=("$chosen")
    done
    "${AS_ROOT[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q -o Dpkg::Options::=--force-confdef \
        -o Dpkg::Options::=--force-confold "${to_install[@]}"
fi

# --- virtualenv ---------------------------------------------------------------

# Prefer the python3 on PATH (it may be a newer interpreter than the
# system's); fall back to Debian's when it is too old (pyproject.toml asks
# for 3.11) or cannot make a virtualenv.
pick_python() {
    local candidate
    for candidate in "$(command -v python3 || true)" /usr/bin/python3; do
        if [ -n "$candidate" ] && "$candidate" -c '
import sys, venv, ensurepip
sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; then
            printf '%s\n' "$candidate"
            return 0
        fi
    done
    return 1
}

VENV=$ROOT/.venv
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    :
else
    PYTHON=$(pick_python) || { log "no python3 with the venv module found"; exit 1; }
    log "creating $VENV with $PYTHON ($("$PYTHON" -c 'import sys; print(sys.version.split()[0])'))"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
fi

if [ ! -f pyproject.toml ]; then
    log "pyproject.toml not found in $ROOT"
    exit 1
fi

# The editable install records the checkout's absolute path and which
# top-level directories were packages at install time (a directory without
# __init__.py then is mapped as a namespace package, and its __init__.py
# added later would be ignored). A change to either, to pyproject.toml or to
# the interpreter calls for a reinstall.
deps_hash=$(
    {
        sha256sum pyproject.toml
        ls -1d -- */__init__.py 2>/dev/null || true
        "$VENV/bin/python" -c 'import sys; print(sys.version)'
        printf '%s\n' "$ROOT"
    } | sha256sum | cut -d' ' -f1
)
if [ "$(cat "$VENV/.deps-hash" 2>/dev/null || true)" = "$deps_hash" ]; then
    log "system packages and $VENV are up to date"
    exit 0
fi

log "installing the project into $VENV"
rm -f "$VENV/.deps-hash"
# Playwright's Python package is installed without a browser: the tests
# launch Debian's /usr/bin/chromium, so no `playwright install` is run.
PIP_DISABLE_PIP_VERSION_CHECK=1 "$VENV/bin/python" -m pip install -q -e '.[test]'
printf '%s\n' "$deps_hash" >"$VENV/.deps-hash"
log "done"
