#!/usr/bin/env bash
# Fills in the secrets docker-compose.yml needs that .env lacks (SLIPWAY_GATEWAY_SECRET,
# SLIPWAY_MASTER_KEY, SLIPWAY_METRICS_TOKEN, SLIPWAY_DB_PASSWORD), each random, and keeps
# every value already there; .env ends readable by its owner only. It prints the names it
# added, never the values. The GitHub App's own credentials come from the app (see README).
set -euo pipefail
env_file=${1:-.env}
touch "$env_file"
chmod 600 "$env_file"
random_hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }
added=()
ensure() {
  local name=$1 value=$2
  if ! grep -Eq "^[[:space:]]*(export[[:space:]]+)?${name}=.+" "$env_file"; then
    # An empty "NAME=" line (from .env.example) is replaced, not repeated.
    sed -i -E "/^[[:space:]]*(export[[:space:]]+)?${name}=[[:space:]]*$/d" "$env_file"
    printf '%s=%s\n' "$name" "$value" >> "$env_file"
    added+=("$name")
  fi
}
ensure SLIPWAY_GATEWAY_SECRET "$(random_hex 24)"
ensure SLIPWAY_MASTER_KEY "$(random_hex 32)"
ensure SLIPWAY_METRICS_TOKEN "$(random_hex 24)"
ensure SLIPWAY_DB_PASSWORD "$(random_hex 16)"
if [ ${#added[@]} -gt 0 ]; then echo "added to $env_file: ${added[*]}"; else echo "$env_file already has every generated secret"; fi
