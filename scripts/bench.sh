#!/usr/bin/env bash
# Sets up whatever is missing, then runs every benchmark under bench/ (or those named).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
bash scripts/setup.sh
benches=("$@")
[ ${#benches[@]} -gt 0 ] || mapfile -t benches < <(ls -d bench/*/ | xargs -n1 basename)
for name in "${benches[@]}"; do
  echo "== bench/$name"
  node --import tsx "bench/$name/run.ts"
done
