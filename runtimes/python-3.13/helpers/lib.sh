#!/bin/bash
# Shared log helpers for the lifecycle scripts. Sourced, never executed.
# Every line is prefixed with a timestamp and "[slipway-runtime]" so the
# executor can tell runtime messages apart from user build output.

slipway_log() {
	printf '%s [slipway-runtime] %s\n' "$(date -u +%H:%M:%S)" "$*"
}

slipway_error() {
	printf '%s [slipway-runtime] ERROR: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2
}

slipway_uptime() {
	awk '{print $1}' /proc/uptime
}

# Where the function's virtualenv lives: built in /usr/local/build, shipped in
# the artifact, and run from the function folder after extraction.
SLIPWAY_BUILD_DIR=/usr/local/build
SLIPWAY_FUNCTION_DIR=/usr/local/server/src/function
SLIPWAY_VENV_NAME=runtime-env
# A virtualenv made when the image was built, copied by build.sh.
SLIPWAY_VENV_TEMPLATE=/usr/local/server/venv-template
