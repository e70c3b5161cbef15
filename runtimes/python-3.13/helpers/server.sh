#!/bin/bash
# Executor contract: started as `bash helpers/server.sh` (cwd /usr/local/server).
# Replaces itself with the runtime's HTTP server. By default that is
# `python3 -m slipway_runtime`, run from /usr/local/server/src with the
# function's own virtualenv interpreter, so the function's requirements are
# importable. OPEN_RUNTIMES_SERVER_COMMAND, when set, replaces the command.
set -e
. /usr/local/server/helpers/lib.sh

cd /usr/local/server/src
if [ -n "${OPEN_RUNTIMES_SERVER_COMMAND:-}" ]; then
	exec bash -c "exec ${OPEN_RUNTIMES_SERVER_COMMAND}"
fi

python="$SLIPWAY_FUNCTION_DIR/$SLIPWAY_VENV_NAME/bin/python3"
if [ ! -x "$python" ]; then
	# An artifact built elsewhere may ship no virtualenv: the system Python still
	# runs functions that need only the standard library.
	python=python3
fi
exec "$python" -m slipway_runtime
