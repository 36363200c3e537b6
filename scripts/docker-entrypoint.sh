#!/bin/sh
# Container entrypoint: on the first start with an empty data volume, create
# the signing key and certificate, then run the given command (by default
# `regauth serve`).
set -eu

data_dir=${REGAUTH_DATA_DIR:-/data}

if [ ! -f "$data_dir/signing-key.pem" ]; then
    echo "docker-entrypoint: no signing key in $data_dir, running 'regauth init'" >&2
    regauth init >/dev/null
fi

exec "$@"
