#!/usr/bin/env bash
# Brings a Debian host to the point where Slipway can run: Docker Engine, PostgreSQL,
# Redis and nginx (with its njs module) installed (the first three started), Versity's S3
# gateway (versitygw, which the tests start as their S3-compatible artifact store) built
# with Go, the debian:trixie-slim base image present, the runtime
# images built, node_modules installed and the sandbox firewall rules of
# scripts/sandbox-firewall.sh in place. Every step checks first, so running it twice
# is cheap.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
log() { printf '[setup] %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# The local database's role, password and name (created below when missing). DATABASE_URL
# should name the same; Slipway also creates the database in DATABASE_URL when its role may.
SLIPWAY_DB_USER=${SLIPWAY_DB_USER:-slipway}
SLIPWAY_DB_PASSWORD=${SLIPWAY_DB_PASSWORD:-slipway}
SLIPWAY_DB_NAME=${SLIPWAY_DB_NAME:-slipway}

# --- packages -------------------------------------------------------------------------
missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 && command -v pg_ctlcluster >/dev/null 2>&1 || missing+=(postgresql)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
command -v git >/dev/null 2>&1 || missing+=(git)
# The gateway's data plane (SLIPWAY_DATA_PLANE=nginx) and bench/gateway's baseline.
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
# Its njs module, which looks each call's route up at request time.
ls /usr/lib/nginx/modules/ngx_http_js_module.so >/dev/null 2>&1 || missing+=(libnginx-mod-http-js)
# The console's browser tests (test/e2e/console-browser.test.ts) drive Debian's Chromium.
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- Node.js --------------------------------------------------------------------------
bash "$here/scripts/check-node.sh"

# --- Docker Engine --------------------------------------------------------------------
if ! docker info >/dev/null 2>&1; then
  log "starting dockerd"
  as_root mkdir -p /var/log
  as_root sh -c 'nohup setsid dockerd >/var/log/slipway-dockerd.log 2>&1 &'
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { log "dockerd did not start; see /var/log/slipway-dockerd.log"; exit 1; }
fi

# --- sandbox firewall -----------------------------------------------------------------
# Builds and runtimes run on Slipway's own Docker networks; these rules keep them off the
# host's services, other containers and link-local addresses (rebuilt on every run).
as_root bash "$here/scripts/sandbox-firewall.sh"

# --- PostgreSQL -----------------------------------------------------------------------
pg_version=$(ls /usr/lib/postgresql | sort -n | tail -1)
if ! pg_lsclusters -h 2>/dev/null | grep -q .; then
  as_root pg_createcluster "$pg_version" main >/dev/null
fi
cluster=$(pg_lsclusters -h | head -1)
read -r cl_ver cl_name cl_port cl_status _ <<<"$cluster"
if [ "$cl_status" != online ]; then
  log "starting postgresql $cl_ver/$cl_name"
  as_root pg_ctlcluster "$cl_ver" "$cl_name" start
fi
psql_admin() { as_root su postgres -c "psql -p $cl_port -v ON_ERROR_STOP=1 -qtA $*"; }
if [ "$(psql_admin "-c \"select 1 from pg_roles where rolname='$SLIPWAY_DB_USER'\"")" != 1 ]; then
  psql_admin "-c \"create role $SLIPWAY_DB_USER login createdb password '$SLIPWAY_DB_PASSWORD'\""
fi
if [ "$(psql_admin "-c \"select 1 from pg_database where datname='$SLIPWAY_DB_NAME'\"")" != 1 ]; then
  psql_admin "-c \"create database $SLIPWAY_DB_NAME owner $SLIPWAY_DB_USER\""
fi

# --- Redis ----------------------------------------------------------------------------
if ! redis-cli ping >/dev/null 2>&1; then
  log "starting redis"
  redis-server --daemonize yes --save '' --appendonly no >/dev/null
  for _ in $(seq 1 20); do redis-cli ping >/dev/null 2>&1 && break; sleep 0.5; done
fi

# --- versitygw (S3-compatible server for the tests) -----------------------------------
# Tests start their own instance on a free port (test/support/start-s3-server.ts); nothing
# runs here. Built from source with Go; GOTOOLCHAIN=auto fetches a newer Go if it needs one.
versitygw_version=v1.8.0
# `versitygw --version` says "git" when built with go install; the binary's module record has the version.
versitygw_installed() { local bin; bin=$(command -v versitygw) && go version -m "$bin" 2>/dev/null | awk '$1 == "mod" { print $3 }'; }
if [ "$(versitygw_installed)" != "$versitygw_version" ]; then
  command -v go >/dev/null 2>&1 || [ -x /usr/local/go/bin/go ] || {
    log "installing golang-go"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends golang-go >/dev/null
  }
  go_bin=$(command -v go || echo /usr/local/go/bin/go)
  log "building versitygw $versitygw_version (about 2 minutes)"
  as_root env GOBIN=/usr/local/bin GOTOOLCHAIN=auto "$go_bin" install "github.com/versity/versitygw/cmd/versitygw@$versitygw_version"
fi

# --- base image -----------------------------------------------------------------------
if ! docker image inspect debian:trixie-slim >/dev/null 2>&1; then
  log "creating debian:trixie-slim with debootstrap"
  root=$(mktemp -d)
  as_root debootstrap --variant=minbase trixie "$root" >/dev/null
  as_root tar -C "$root" -c . | docker import - debian:trixie-slim >/dev/null
  as_root rm -rf "$root"
fi

# --- node modules ---------------------------------------------------------------------
cd "$here"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing node modules"
  # npm ci insists that every platform's optional packages are in the lock; a registry
  # mirror without them (say, no darwin builds) makes it refuse, while npm install still
  # installs exactly the locked versions and skips the optional packages it cannot get.
  npm ci --no-audit --no-fund --loglevel=error 2>/dev/null || npm install --no-audit --no-fund --loglevel=error
  touch node_modules/.package-lock.json
fi

# --- runtime images -------------------------------------------------------------------
for dir in runtimes/*/; do
  name=$(basename "$dir")
  [ -f "$dir/Dockerfile" ] || continue
  tag="slipway/runtime-$name:local"
  sum=$(cd "$dir" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
  if [ "$(docker image inspect -f '{{ index .Config.Labels "slipway.source" }}' "$tag" 2>/dev/null)" != "$sum" ]; then
    log "building $tag"
    docker build -q --label "slipway.source=$sum" -t "$tag" "$dir" >/dev/null
  fi
done
log "ready"
