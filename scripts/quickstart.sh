#!/usr/bin/env bash
# Start a complete local stack on 127.0.0.1: Debian's docker-registry 2.8,
# nginx in front of it, and regauth issuing its tokens. Then create the
# organization "myorg", the repository "myorg/app" and the robot "myorg+ci"
# with write access to it, and print how to log in.
#
#   scripts/quickstart.sh          start (or restart) the stack
#   scripts/quickstart.sh stop     stop it
#
# Environment:
#   REGAUTH_HOME              data, configs, logs and pid files (default: .quickstart in the checkout)
#   QUICKSTART_NGINX_PORT     the address clients use (default 8080)
#   QUICKSTART_REGISTRY_PORT  docker-registry (default 5000)
#   QUICKSTART_REGAUTH_PORT   regauth (default 5001)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD

HOME_DIR=${REGAUTH_HOME:-$ROOT/.quickstart}
NGINX_PORT=${QUICKSTART_NGINX_PORT:-8080}
REGISTRY_PORT=${QUICKSTART_REGISTRY_PORT:-5000}
REGAUTH_PORT=${QUICKSTART_REGAUTH_PORT:-5001}
HOST=127.0.0.1
PUBLIC=$HOST:$NGINX_PORT

ORG=myorg
REPO=$ORG/app
ROBOT=$ORG+ci
UI_USER=admin

SERVICES=(regauth nginx registry)

log() { printf 'quickstart: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

pid_file() { printf '%s/run/%s.pid\n' "$HOME_DIR" "$1"; }
log_file() { printf '%s/logs/%s.log\n' "$HOME_DIR" "$1"; }

# What must appear in a process's command line for its pid file to be
# trusted (a stale pid may have been reused by an unrelated process): the
# program and this stack's data directory.
process_markers() {
    case "$1" in
        regauth) printf '%s\n' "regauth serve" "$HOME_DIR/" ;;
        nginx) printf '%s\n' "nginx" "$HOME_DIR/" ;;
        registry) printf '%s\n' "docker-registry serve" "$HOME_DIR/" ;;
    esac
}

# Print the pid recorded for a service if that process is still ours.
running_pid() {
    local file pid
    file=$(pid_file "$1")
    [ -f "$file" ] || return 1
    pid=$(cat "$file")
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [ -r "/proc/$pid/cmdline" ] || return 1
    local cmdline marker
    cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline")
    while IFS= read -r marker; do
        [[ "$cmdline" == *"$marker"* ]] || return 1
    done < <(process_markers "$1")
    printf '%s\n' "$pid"
}

stop_service() {
    local name=$1 pid i
    if pid=$(running_pid "$name"); then
        kill -TERM "$pid" 2>/dev/null || true
        for i in $(seq 1 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "$name (pid $pid) did not stop in 10 s; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        log "stopped $name (pid $pid)"
    fi
    rm -f "$(pid_file "$name")"
}

stop_all() {
    local name
    for name in "${SERVICES[@]}"; do
        stop_service "$name"
    done
}

# start_service NAME COMMAND...: run COMMAND in the background, detached from
# this shell, with its output in the service's log file and its pid recorded.
start_service() {
    local name=$1
    shift
    # Private from the first byte: the registry prints its configuration, events token
    # included, when it starts.
    (umask 077 && touch "$(log_file "$name")")
    chmod 600 "$(log_file "$name")"
    nohup "$@" >>"$(log_file "$name")" 2>&1 </dev/null &
    echo $! >"$(pid_file "$name")"
}

http_status() {
    curl -s -o /dev/null --max-time 2 -w '%{http_code}' "$1" 2>/dev/null || true
}

# wait_for NAME URL STATUS: poll URL until it answers STATUS, for at most 30 s.
wait_for() {
    local name=$1 url=$2 want=$3 got="" i
    for i in $(seq 1 150); do
        got=$(http_status "$url")
        [ "$got" = "$want" ] && return 0
        if ! running_pid "$name" >/dev/null; then
            log "$name exited; last lines of $(log_file "$name"):"
            tail -n 20 "$(log_file "$name")" >&2 || true
            exit 1
        fi
        sleep 0.2
    done
    log "$name: $url answered '${got:-nothing}' instead of $want after 30 s; last lines of $(log_file "$name"):"
    tail -n 20 "$(log_file "$name")" >&2 || true
    exit 1
}

port_free() {
    "$PY" - "$1" "$2" <<'PYEOF'
import socket, sys
s = socket.socket()
# As the servers do: connections of the previous run still in TIME_WAIT must
# not count, only a socket that is listening.
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind((sys.argv[1], int(sys.argv[2])))
except OSError:
    sys.exit(1)
finally:
    s.close()
PYEOF
}

# has_item VALUE FIELD [KEY]: whether the JSON list on stdin (or the list
# under KEY of the JSON object on stdin) has an item whose FIELD is VALUE.
has_item() {
    "$PY" -c '
import json, sys
value, field = sys.argv[1], sys.argv[2]
data = json.load(sys.stdin)
items = data[sys.argv[3]] if len(sys.argv) > 3 else data
sys.exit(0 if any(item[field] == value for item in items) else 1)
' "$@"
}

json_field() {
    "$PY" -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}

case "${1:-start}" in
    stop)
        stop_all
        exit 0
        ;;
    start) ;;
    *)
        die "usage: $0 [start|stop]"
        ;;
esac

bash scripts/install-deps.sh

PY=$ROOT/.venv/bin/python
REGAUTH=$ROOT/.venv/bin/regauth

mkdir -p "$HOME_DIR"/{regauth,registry/storage,nginx/logs,nginx/temp,run,logs}
chmod 700 "$HOME_DIR"

# A re-run restarts the stack from its saved state.
stop_all

for port in "$NGINX_PORT" "$REGISTRY_PORT" "$REGAUTH_PORT"; do
    if ! port_free "$HOST" "$port"; then
        hint=""
        if [ "$port" = "$REGISTRY_PORT" ]; then
            hint=" (Debian's docker-registry service listens on 5000: 'systemctl disable --now docker-registry', or set QUICKSTART_REGISTRY_PORT)"
        fi
        die "port $HOST:$port is already in use$hint"
    fi
done

# Every regauth command below reads these.
export REGAUTH_DATA_DIR=$HOME_DIR/regauth
export REGAUTH_LISTEN=$HOST:$REGAUTH_PORT
export REGAUTH_REALM=http://$PUBLIC/token

# --- regauth: signing key and certificate ------------------------------------

if [ ! -f "$REGAUTH_DATA_DIR/signing-key.pem" ] || [ ! -f "$REGAUTH_DATA_DIR/regauth.db" ]; then
    log "creating the signing key and database in $REGAUTH_DATA_DIR"
    "$REGAUTH" init >/dev/null
fi

# --- docker-registry ------------------------------------------------------------

auth_block=$("$REGAUTH" registry-config)
# The config holds the events token (regauth events-token rotate replaces it): mode 0600,
# also when an earlier run left a readable one.
registry_config=$HOME_DIR/registry/config.yml
(umask 077 && : >"$registry_config")
chmod 600 "$registry_config"
cat >"$registry_config" <<YAML
version: 0.1
log:
  level: info
  fields:
    service: registry
storage:
  filesystem:
    rootdirectory: $HOME_DIR/registry/storage
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: $HOST:$REGISTRY_PORT
  headers:
    X-Content-Type-Options: [nosniff]
$auth_block
YAML

start_service registry docker-registry serve "$registry_config"

# --- nginx --------------------------------------------------------------------------

# The repository's nginx.conf listens on 8080 and proxies to 5000 and 5001;
# swap in the ports chosen here (through placeholders, so that one port's new
# value can never be rewritten by the next substitution).
sed -e "s/127\.0\.0\.1:8080\b/127.0.0.1:@NGINX_PORT@/g" \
    -e "s/127\.0\.0\.1:5000\b/127.0.0.1:@REGISTRY_PORT@/g" \
    -e "s/127\.0\.0\.1:5001\b/127.0.0.1:@REGAUTH_PORT@/g" \
    -e "s/@NGINX_PORT@/$NGINX_PORT/g" \
    -e "s/@REGISTRY_PORT@/$REGISTRY_PORT/g" \
    -e "s/@REGAUTH_PORT@/$REGAUTH_PORT/g" \
    nginx.conf >"$HOME_DIR/nginx/nginx.conf"

nginx -p "$HOME_DIR/nginx/" -c "$HOME_DIR/nginx/nginx.conf" -e logs/error.log -t -q \
    || die "nginx rejected $HOME_DIR/nginx/nginx.conf"
start_service nginx nginx -p "$HOME_DIR/nginx/" -c "$HOME_DIR/nginx/nginx.conf" \
    -e logs/error.log -g 'daemon off;'

# --- regauth ------------------------------------------------------------------------

start_service regauth "$REGAUTH" serve --data-dir "$REGAUTH_DATA_DIR"

wait_for registry "http://$HOST:$REGISTRY_PORT/v2/" 401
wait_for regauth "http://$HOST:$REGAUTH_PORT/healthz" 200
wait_for nginx "http://$PUBLIC/v2/" 401
wait_for nginx "http://$PUBLIC/healthz" 200

# --- organization, repository, robot ----------------------------------------------

# Created on the first run; on later runs they exist already and the robot
# gets a new secret, since the old one cannot be shown again.
if ! "$REGAUTH" org list | has_item "$ORG" name; then
    "$REGAUTH" org create "$ORG" >/dev/null
fi
if ! "$REGAUTH" repo list "$ORG" | has_item "${REPO#*/}" name repositories; then
    "$REGAUTH" repo create "$REPO" >/dev/null
fi
if "$REGAUTH" robot list "$ORG" | has_item "$ROBOT" name robots; then
    robot_json=$("$REGAUTH" robot regenerate "$ROBOT")
else
    robot_json=$("$REGAUTH" robot create "$ROBOT" --description "created by scripts/quickstart.sh")
fi
"$REGAUTH" grant "$ROBOT" "$REPO" write >/dev/null
secret=$(printf '%s' "$robot_json" | json_field token)

# A person for the web UI and the API, admin of the organization. Created on the first
# run only, with a random password that is shown then (it is stored as a hash).
ui_password=""
if ! "$REGAUTH" user list | has_item "$UI_USER" name; then
    ui_password=$("$PY" -c 'import secrets; print(secrets.token_urlsafe(12))')
    printf '%s\n' "$ui_password" | "$REGAUTH" user create "$UI_USER" >/dev/null
    "$REGAUTH" org add-member "$ORG" "$UI_USER" --admin >/dev/null
fi
if [ -n "$ui_password" ]; then
    ui_line="Web UI: http://$PUBLIC/  user '$UI_USER', password $ui_password (shown only now)"
else
    ui_line="Web UI: http://$PUBLIC/  user '$UI_USER' (password as printed on the first run)"
fi

# Prove the whole path once: a token for a push, fetched through nginx.
status=$(curl -s -o /dev/null -w '%{http_code}' -u "$ROBOT:$secret" \
    "http://$PUBLIC/token?service=${REGAUTH_SERVICE:-regauth}&scope=repository:$REPO:pull,push" || true)
[ "$status" = 200 ] || die "the token endpoint answered $status to $ROBOT; see $(log_file regauth)"

cat <<MSG

regauth is running:
  registry  http://$PUBLIC/v2/   (docker-registry on $HOST:$REGISTRY_PORT, behind nginx)
  tokens    http://$PUBLIC/token (regauth on $HOST:$REGAUTH_PORT)
  data      $HOME_DIR  (logs in $HOME_DIR/logs)

Robot $ROBOT may push and pull $REPO. Its secret is shown only now:

  docker login $PUBLIC -u '$ROBOT' -p $secret
  podman login --tls-verify=false $PUBLIC -u '$ROBOT' -p $secret
  skopeo login --tls-verify=false $PUBLIC -u '$ROBOT' -p $secret

$ui_line

Then, for example:

  podman push --tls-verify=false IMAGE $PUBLIC/$REPO:latest
  skopeo copy --dest-tls-verify=false docker://docker.io/library/alpine:latest docker://$PUBLIC/$REPO:latest

Stop the stack with:  scripts/quickstart.sh stop
MSG
