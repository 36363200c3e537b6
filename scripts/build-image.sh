#!/usr/bin/env bash
# Build regauth's container image without pulling anything from a registry:
#
#   1. a base image made from Debian's packages by mmdebstrap (python3,
#      python3-venv, ca-certificates; minbase, no docs), loaded with
#      `docker import`;
#   2. a wheelhouse of regauth and its runtime dependencies, made on this host
#      with pip (the only step that needs PyPI);
#   3. `docker build` of the Dockerfile on that base, with the wheelhouse as
#      its context and no network inside (`--network none`).
#
# Usage: scripts/build-image.sh [--tag TAG] [--base-tag TAG] [--base IMAGE]
#                               [--suite SUITE] [--mirror MIRROR]... [--python PY]
#
#   --tag TAG        the image to build (default regauth:latest)
#   --base-tag TAG   the name given to the Debian base (default regauth-base:SUITE)
#   --base IMAGE     build on IMAGE, already present in the docker daemon, instead
#                    of making a Debian base (step 1 is skipped)
#   --suite SUITE    Debian release of the base (default bookworm: python 3.11)
#   --mirror MIRROR  apt source for mmdebstrap: a URL, a "deb ..." line or a
#                    sources file; repeatable (default deb.debian.org with the
#                    release's updates and security suites)
#   --python PY      interpreter whose pip makes the wheelhouse (default the
#                    checkout's .venv, else python3); it must be the same Python
#                    minor version as the base's, since some wheels are compiled
#
# mmdebstrap runs as root, or unprivileged where user namespaces allow it. The
# docker CLI talks to whatever DOCKER_HOST names. Nothing is cached between
# runs; the temporary build context is removed on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)

log() { printf 'build-image: %s\n' "$*" >&2; }
die() { log "$*"; exit 2; }

tag=regauth:latest
base_tag=
base=
suite=bookworm
mirrors=()
python=

while [ "$#" -gt 0 ]; do
    case $1 in
        --tag) tag=${2:?--tag needs a value}; shift 2 ;;
        --base-tag) base_tag=${2:?--base-tag needs a value}; shift 2 ;;
        --base) base=${2:?--base needs a value}; shift 2 ;;
        --suite) suite=${2:?--suite needs a value}; shift 2 ;;
        --mirror) mirrors+=("${2:?--mirror needs a value}"); shift 2 ;;
        --python) python=${2:?--python needs a value}; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
done

if [ -z "$python" ]; then
    if [ -x "$ROOT/.venv/bin/python" ]; then
        python=$ROOT/.venv/bin/python
    else
        python=python3
    fi
fi
command -v docker >/dev/null || die "docker (the CLI) is not installed"

ctx=$(mktemp -d "${TMPDIR:-/tmp}/regauth-image.XXXXXX")
trap 'rm -rf "$ctx"' EXIT

started=$SECONDS

# --- 1. the base --------------------------------------------------------------

if [ -z "$base" ]; then
    command -v mmdebstrap >/dev/null || die "mmdebstrap is not installed (apt-get install mmdebstrap)"
    base=${base_tag:-regauth-base:$suite}
    log "making the $suite base $base with mmdebstrap"
    # Docs, man pages and translations are of no use in the image. The
    # merged-usr hook lays out /usr as usrmerge would, without installing it
    # and the perl it needs (a third of the base).
    mmdebstrap --quiet --variant=minbase --include=python3,python3-venv,ca-certificates \
        --hook-dir=/usr/share/mmdebstrap/hooks/maybe-merged-usr \
        --dpkgopt='path-exclude=/usr/share/doc/*' \
        --dpkgopt='path-exclude=/usr/share/man/*' \
        --dpkgopt='path-exclude=/usr/share/info/*' \
        --dpkgopt='path-exclude=/usr/share/locale/*' \
        "$suite" - "${mirrors[@]}" \
        | docker import --change 'ENV LANG=C.UTF-8' - "$base" >/dev/null
    log "base done after $((SECONDS - started)) s"
fi

# --- 2. the wheelhouse ---------------------------------------------------------

# Only what the wheel is made of, copied out, so that the build leaves no
# build/ or *.egg-info in the checkout.
log "making the wheelhouse with $python"
mkdir -p "$ctx/project" "$ctx/scripts"
cp "$ROOT/pyproject.toml" "$ROOT/README.md" "$ctx/project/"
cp -r "$ROOT/gateway" "$ROOT/tokenstore" "$ctx/project/"
find "$ctx/project" -name __pycache__ -prune -exec rm -rf {} +
PIP_DISABLE_PIP_VERSION_CHECK=1 "$python" -m pip wheel --quiet --no-cache-dir \
    --wheel-dir "$ctx/wheels" "$ctx/project"
rm -rf "$ctx/project"
cp "$ROOT/scripts/docker-entrypoint.sh" "$ctx/scripts/"
log "wheelhouse done after $((SECONDS - started)) s"

# --- 3. the image ----------------------------------------------------------------

log "building $tag on $base"
docker build --network none --file "$ROOT/Dockerfile" \
    --build-arg "BASE=$base" --build-arg WHEELS=wheels \
    --tag "$tag" "$ctx" >&2
log "built $tag in $((SECONDS - started)) s"
