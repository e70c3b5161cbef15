#!/usr/bin/env bash
# Runs CI as it runs on a busy machine: a fresh clone of main (beside this checkout, so
# ../shared is beside it too), `CI=true bash .ci/run`, RUNS times in a row (default 3),
# while a bounded busy loop keeps one core busy. Prints each run's closing line and exits
# non-zero if any run failed. The busy loop stops with the script, and after BUSY_SECONDS
# (default 3 hours) in any case.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=${RUNS:-3}
clone="$(dirname "$here")/slipway-ci-rehearsal"

timeout "${BUSY_SECONDS:-10800}" sh -c 'while :; do :; done' &
busy=$!
ci=""
# Each CI run is a process group of its own, stopped with the script.
trap 'kill $busy 2>/dev/null; [ -n "$ci" ] && kill -- -"$ci" 2>/dev/null' EXIT
trap 'exit 130' INT TERM

status=0
lines=()
for run in $(seq 1 "$runs"); do
  rm -rf "$clone"
  git clone -q --branch main "$here" "$clone"
  log="/tmp/slipway-ci-rehearsal-$run.log"
  started=$(date +%s)
  (cd "$clone" && CI=true exec setsid bash .ci/run) >"$log" 2>&1 &
  ci=$!
  wait "$ci"
  code=$?
  ci=""
  [ "$code" = 0 ] || status=1
  lines+=("run $run of $runs at $(git -C "$clone" rev-parse --short HEAD): $(tail -1 "$log") (exit $code, $(($(date +%s) - started)) s; log: $log)")
  echo "${lines[-1]}"
done
rm -rf "$clone"
printf '%s\n' "${lines[@]}"
exit $status
