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
tap=$(mktemp)
# --test-force-exit: a file whose tests are done ends, even if a handle it leaked is still
# open, so one leak cannot stall the run.
node --import tsx --test --test-concurrency=1 --test-force-exit \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$tap" \
  "${files[@]}"
status=$?
passed=$(grep -E '^# pass [0-9]+' "$tap" | tail -1 | awk '{print $3}')
failed=$(grep -E '^# fail [0-9]+' "$tap" | tail -1 | awk '{print $3}')
rm -f "$tap"
echo "${passed:-0} passed, ${failed:-0} failed"
exit $status
