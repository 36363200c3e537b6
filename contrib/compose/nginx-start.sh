#!/bin/sh
# nginx's command in docker-compose.yml: the repository's nginx.conf (mounted at
# /etc/regauth/nginx.conf) with the compose services' addresses in place of 127.0.0.1's, and
# its logs on the container's output. With NGINX_TLS=on, switched to TLS as
# docs/tls.md says: the certificate and key mounted at /etc/ssl/regauth/{fullchain,privkey}.pem.
set -eu
prefix=/tmp/nginx
mkdir -p "$prefix/logs" "$prefix/temp"
ln -sf /dev/stdout "$prefix/logs/access.log"
ln -sf /dev/stderr "$prefix/logs/error.log"
tls='s/^/&/'
if [ "${NGINX_TLS:-off}" = on ]; then
    tls='/# plain http only$/d; s/#tls: //'
fi
sed -e "$tls" \
    -e 's/127\.0\.0\.1:8080/0.0.0.0:8080/g' \
    -e 's/127\.0\.0\.1:8443/0.0.0.0:8443/g' \
    -e 's/127\.0\.0\.1:5000/registry:5000/g' \
    -e 's/127\.0\.0\.1:5001/regauth:5001/g' \
    /etc/regauth/nginx.conf >"$prefix/nginx.conf"
exec nginx -p "$prefix/" -c "$prefix/nginx.conf" -g 'daemon off;'
