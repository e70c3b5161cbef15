#!/usr/bin/env bash
# Sets up whatever is missing, then runs Slipway with every role in one process (`all`),
# with local defaults for everything but the GitHub App's credentials, which come from
# the environment or a .env file (APP_ID, PRIVATE_KEY or PRIVATE_KEY_PATH, WEBHOOK_SECRET).
# With none of them, Slipway starts in set-up mode: its page registers the GitHub App through
# GitHub's manifest flow, writes the credentials to .env and goes on without a restart.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
bash scripts/setup.sh
if [ -f .env ]; then set -a; . ./.env; set +a; fi
mkdir -p .slipway
# A local gateway secret is made once and kept, so restarts keep talking to their containers.
if [ -z "${SLIPWAY_GATEWAY_SECRET:-}" ]; then
  [ -f .slipway/gateway-secret ] || head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > .slipway/gateway-secret
  SLIPWAY_GATEWAY_SECRET=$(cat .slipway/gateway-secret)
  export SLIPWAY_GATEWAY_SECRET
fi
if [ -z "${SLIPWAY_BUILD_CA_BUNDLE:-}" ] && [ -n "${SSL_CERT_FILE:-}" ] && [ -f "$SSL_CERT_FILE" ]; then
  export SLIPWAY_BUILD_CA_BUNDLE="$SSL_CERT_FILE"
fi
exec node bin/slipway.js all
