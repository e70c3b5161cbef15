#!/bin/bash
# Executor contract: bash helpers/start.sh "<start command>"
#                    (the start command is normally "bash helpers/server.sh")
#
# Input: /mnt/code/code.tar.gz produced by helpers/build.sh.
# Extracts it into /usr/local/server/src/function, exports the variables in its
# .open-runtimes metadata, activates the function's virtualenv for anything the
# function starts, then replaces itself with the start command so that signals
# (docker stop) reach the server directly.
set -euo pipefail
shopt -s dotglob

. /usr/local/server/helpers/lib.sh

ARTIFACT=/mnt/code/code.tar.gz
FUNCTION_DIR="$SLIPWAY_FUNCTION_DIR"
START_COMMAND="${1:-bash helpers/server.sh}"

mkdir -p /mnt/telemetry /mnt/logs "$FUNCTION_DIR"

slipway_log "Code extraction started."
started=$(slipway_uptime)
# A container started again (parked, then reused) unpacks afresh; folders the artifact made
# read-only are made writable first, as the function's own user cannot override modes.
if [ -n "$(ls -A "$FUNCTION_DIR")" ]; then
	chmod -R u+rwX "$FUNCTION_DIR" 2>/dev/null || true
	find "$FUNCTION_DIR" -mindepth 1 -delete
fi
if [ ! -f "$ARTIFACT" ]; then
	slipway_error "Code archive not found at $ARTIFACT."
	exit 1
fi
# Detect gzip by magic bytes; a plain tar is accepted too.
if [ "$(head -c2 "$ARTIFACT" | od -An -tx1 | tr -d ' \n')" = "1f8b" ]; then
	tar -xzf "$ARTIFACT" -C "$FUNCTION_DIR"
else
	tar -xf "$ARTIFACT" -C "$FUNCTION_DIR"
fi
finished=$(slipway_uptime)
echo "extract=$(awk "BEGIN{printf \"%.3f\", $finished - $started}")" >>/mnt/telemetry/timings.txt
slipway_log "Code extraction finished."

# Build-time metadata wins over the container environment, as in open-runtimes.
if [ -f "$FUNCTION_DIR/.open-runtimes" ]; then
	set -o allexport
	. "$FUNCTION_DIR/.open-runtimes"
	set +o allexport
fi

# Subprocesses of the function (python, console scripts) use its virtualenv.
venv="$FUNCTION_DIR/$SLIPWAY_VENV_NAME"
if [ -x "$venv/bin/python3" ]; then
	export VIRTUAL_ENV="$venv"
	export PATH="$venv/bin:$PATH"
	unset PYTHONHOME
fi

cd /usr/local/server
export SLIPWAY_START_UPTIME="$finished"
slipway_log "Runtime starting: $START_COMMAND"
exec bash -c "$START_COMMAND"
