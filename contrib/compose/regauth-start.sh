#!/bin/sh
# regauth's command in docker-compose.yml, after the image's entrypoint has made the signing
# key on the first start: write what the registry needs, and nothing more (never the key),
# into the shared volume mounted at /public, then serve. The registry mounts that volume at
# /data, the path regauth prints, and appends registry-auth.yml to its own config.
set -eu
regauth registry-config --listen regauth:5001 >/public/registry-auth.yml
# The certificate file the block names (rootcertbundle), under the same name.
bundle=$(sed -n 's/^ *rootcertbundle: "\(.*\)"$/\1/p' /public/registry-auth.yml)
cp "$bundle" /public/
exec regauth serve
