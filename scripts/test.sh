#!/usr/bin/env bash
# Sets up whatever is missing (Docker, PostgreSQL, Redis, images, node modules), then runs
# the whole test suite on real parts and ends with a line "N passed, N failed".
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
bash scripts/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }

files=("$@")
if [ ${#files[@]} -eq 0 ]; then
  mapfile -t files < <(find test -name '*.test.ts' | sort)
fi
out=$(mktemp)
# --test-force-exit: a file whose tests are done ends, even if a handle it leaked is still
# open, so one leak cannot stall the run. The totals are read from the spec reporter's own
# summary (a file reporter's last lines may not be written before a forced exit).
node --import tsx --test --test-concurrency=1 --test-force-exit --test-reporter=spec "${files[@]}" | tee "$out"
status=${PIPESTATUS[0]}
passed=$(grep -E '^ℹ pass [0-9]+' "$out" | tail -1 | awk '{print $3}')
failed=$(grep -E '^ℹ fail [0-9]+' "$out" | tail -1 | awk '{print $3}')
# A test cut short when its suite's hook failed is "cancelled", not "fail": it failed too.
cancelled=$(grep -E '^ℹ cancelled [0-9]+' "$out" | tail -1 | awk '{print $3}')
failed=$(( ${failed:-0} + ${cancelled:-0} ))
rm -f "$out"
echo "${passed:-0} passed, ${failed:-0} failed"
exit $status
