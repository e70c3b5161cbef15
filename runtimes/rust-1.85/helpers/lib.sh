#!/bin/bash
# Shared log helpers for the lifecycle scripts. Sourced, never executed.
# Every line is prefixed with a timestamp and "[slipway-runtime]" so the
# executor can tell runtime messages apart from cargo and user build output.

slipway_log() {
	printf '%s [slipway-runtime] %s\n' "$(date -u +%H:%M:%S)" "$*"
}

slipway_error() {
	printf '%s [slipway-runtime] ERROR: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2
}

slipway_uptime() {
	awk '{print $1}' /proc/uptime
}
