#!/usr/bin/env bash
# Makes sure Node.js is 20.17 or newer (package.json's engines), for scripts/setup.sh.
set -euo pipefail
log() { printf '[setup] %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
# package.json's engines: Node 20.17 or newer. Debian's own nodejs is installed when it is
# new enough (trixie's is 20.19); an older one (bookworm's 18) is not replaced behind the
# user's back: this stops and says how to get a newer one.
node_ok() { command -v node >/dev/null 2>&1 && node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>20||(a===20&&b>=17)?0:1)'; }
version_ok() { dpkg --compare-versions "$1" ge 20.17; }
if ! node_ok; then
  candidate=$(apt-cache policy nodejs 2>/dev/null | awk '/Candidate:/ {print $2}' | sed -E 's/^[0-9]+://; s/[-+~].*//')
  if [ -n "$candidate" ] && [ "$candidate" != "(none)" ] && version_ok "$candidate"; then
    log "installing nodejs $candidate and npm from the distribution"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
  fi
  if ! node_ok; then
    have=$(command -v node >/dev/null 2>&1 && node --version || echo "no node")
    log "Slipway needs Node.js 20.17 or newer (found: $have; the distribution offers: ${candidate:-nothing})."
    log "Install Node 20.17+ (e.g. from https://nodejs.org/en/download or NodeSource's Debian packages, or with nvm), make it the first node on PATH, and run scripts/setup.sh again."
    exit 1
  fi
fi
