#!/bin/bash
# Executor contract: started as `bash helpers/server.sh` (cwd /usr/local/server).
# Replaces itself with the function's server binary (OPEN_RUNTIMES_SERVER_COMMAND,
# set in the Dockerfile), so that it runs as PID 1 and receives docker stop's SIGTERM.
set -e
cd /usr/local/server
exec bash -c "exec ${OPEN_RUNTIMES_SERVER_COMMAND:-/usr/local/server/src/function/slipway-rust-server}"
