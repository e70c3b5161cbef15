#!/bin/bash
# Slipway's pooled start: bash helpers/pool-start.sh
#
# A pool member is started before any function is assigned to it, with no secret and no
# function variables. helpers/pool-loader receives the function's artifact (written to
# /mnt/code/code.tar.gz) and its variables (printed NUL-terminated on a pipe to this
# script, never written to a file); they are exported here and helpers/start.sh runs
# exactly as in an ordinary start. A member never assigned exits when its idle time ends.
set -euo pipefail
. /usr/local/server/helpers/lib.sh
cd /usr/local/server

mapfile -d '' pairs < <(python3 -I helpers/pool-loader.py)
status=0
wait $! || status=$?
if [ "$status" -eq 3 ]; then exit 0; fi
if [ "$status" -ne 0 ]; then
	slipway_error "The pool loader failed ($status)."
	exit "$status"
fi
# env(1) rather than export: the pairs reach start.sh as Docker's Env would, even names
# bash itself keeps read-only (UID, PPID, ...).
exec env -u SLIPWAY_POOL_TOKEN -u SLIPWAY_POOL_IDLE_SECONDS "${pairs[@]}" bash helpers/start.sh "bash helpers/server.sh"
