#!/bin/bash
# Executor contract: started as `bash helpers/server.sh` (cwd /usr/local/server).
# Replaces itself with the runtime's HTTP server (OPEN_RUNTIMES_SERVER_COMMAND,
# set in the Dockerfile).
set -e
cd /usr/local/server
exec bash -c "exec ${OPEN_RUNTIMES_SERVER_COMMAND:-node src/server.mjs}"
