#!/usr/bin/env bash
# Installs the host firewall rules that sandbox Slipway's build and runtime networks (run as
# root, after dockerd has started; scripts/setup.sh runs it). Slipway creates the two Docker
# networks itself, with fixed bridge names, and these rules are keyed on those names:
#
#   slipway-build    builds: the package registries (internet), nothing else
#   slipway-runtime  functions: the internet, not one another, not the host
#
# A second Docker engine on the same host (a second node) needs bridges of its own, named by
# SLIPWAY_BUILD_BRIDGE and SLIPWAY_RUNTIME_BRIDGE; run this once per pair with those set. Each
# pair has chains of its own (the default pair's are SLIPWAY-SANDBOX*, another's end in a hash
# of its names), so running it for one pair leaves the others' rules alone. With --remove it
# takes one pair's rules out again.
#
# From either bridge, these are refused (REJECT, icmp-admin-prohibited, so a probe fails fast):
#   - every address of the host itself (INPUT): the app, the gateway, Redis, PostgreSQL, …
#   - every other container: other Docker bridges, the other sandbox network, and, on
#     their own bridge, one another (Docker's enable_icc=false does that too)
#   - link-local addresses (169.254.0.0/16: cloud metadata), always
#   - SLIPWAY_SANDBOX_DENY_CIDRS (default: RFC 1918 and 100.64.0.0/10)
# Nothing may open a connection into either bridge, except through a published port.
# Holes, checked before the denials:
#   - the host's DNS resolvers (nameserver lines of /etc/resolv.conf), port 53, because
#     Docker's embedded DNS forwards a container's queries from the container's network
#   - SLIPWAY_BUILD_PROXY's host and port, for builds only
#   - SLIPWAY_SANDBOX_ALLOW: CIDR or CIDR:PORT entries (comma separated), for both networks
# Settings come from the environment, else from the SLIPWAY_SANDBOX_* and SLIPWAY_BUILD_PROXY
# lines of SLIPWAY_ENV_FILE (default: the repository's .env). Running it again rebuilds the
# rules from the current settings; the jumps into them are added once (iptables -C first).
# The rules are not persistent: run this again after a reboot (say, from a unit ordered
# after docker.service). IPv4 only: Slipway's networks have no IPv6.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
log() { printf '[sandbox-firewall] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

reject=(-j REJECT --reject-with icmp-admin-prohibited)
remove=false
case "${1:-}" in
  "") ;;
  --remove) remove=true ;;
  *) die "unknown argument '$1' (the only one is --remove)" ;;
esac

[ "$(id -u)" = 0 ] || die "must run as root (it changes the host firewall)"
command -v iptables >/dev/null 2>&1 || die "iptables is not installed"

env_file=${SLIPWAY_ENV_FILE:-$here/.env}
setting() {
  local name=$1 default=$2
  if [ -n "${!name+x}" ]; then printf '%s' "${!name}"; return; fi
  if [ -f "$env_file" ]; then
    local line
    line=$(grep -E "^${name}=" "$env_file" | tail -1 || true)
    if [ -n "$line" ]; then line=${line#*=}; line=${line%\"}; line=${line#\"}; printf '%s' "$line"; return; fi
  fi
  printf '%s' "$default"
}
build_bridge=$(setting SLIPWAY_BUILD_BRIDGE slipway-build)
runtime_bridge=$(setting SLIPWAY_RUNTIME_BRIDGE slipway-runtime)
bridge_pattern='^[A-Za-z0-9][A-Za-z0-9._-]{0,14}$'
[[ $build_bridge =~ $bridge_pattern ]] || die "SLIPWAY_BUILD_BRIDGE: '$build_bridge' is not a network interface name (1-15 letters, digits, '.', '_' or '-')"
[[ $runtime_bridge =~ $bridge_pattern ]] || die "SLIPWAY_RUNTIME_BRIDGE: '$runtime_bridge' is not a network interface name (1-15 letters, digits, '.', '_' or '-')"
[ "$build_bridge" != "$runtime_bridge" ] || die "SLIPWAY_BUILD_BRIDGE and SLIPWAY_RUNTIME_BRIDGE must differ (both are '$build_bridge')"
# iptables chain names are at most 28 characters, so another pair's carry a short hash.
suffix=
if [ "$build_bridge $runtime_bridge" != "slipway-build slipway-runtime" ]; then
  suffix=-$(printf '%s %s' "$build_bridge" "$runtime_bridge" | sha256sum | cut -c1-6)
fi
forward_chain=SLIPWAY-SANDBOX$suffix
into_chain=SLIPWAY-SANDBOX-INTO$suffix
out_chain=SLIPWAY-SANDBOX-OUT$suffix
host_chain=SLIPWAY-SANDBOX-HOST$suffix

if $remove; then
  unjump() {
    local chain=$1; shift
    while iptables -C "$chain" "$@" 2>/dev/null; do iptables -D "$chain" "$@"; done
  }
  unjump DOCKER-USER -j "$forward_chain"
  unjump INPUT -i "$build_bridge" -j "$host_chain"
  unjump INPUT -i "$runtime_bridge" -j "$host_chain"
  for chain in "$forward_chain" "$into_chain" "$out_chain" "$host_chain"; do
    if iptables -n -L "$chain" >/dev/null 2>&1; then iptables -F "$chain"; iptables -X "$chain"; fi
  done
  log "rules removed for $build_bridge and $runtime_bridge"
  exit 0
fi

deny_cidrs=$(setting SLIPWAY_SANDBOX_DENY_CIDRS "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,100.64.0.0/10")
allow=$(setting SLIPWAY_SANDBOX_ALLOW "")
build_proxy=$(setting SLIPWAY_BUILD_PROXY "")

cidr_pattern='^([0-9]{1,3}\.){3}[0-9]{1,3}(/[0-9]{1,2})?$'
split() { tr ',' '\n' <<<"$1" | tr -d ' ' | grep -v '^$' || true; }
for cidr in $(split "$deny_cidrs"); do
  [[ $cidr =~ $cidr_pattern ]] || die "SLIPWAY_SANDBOX_DENY_CIDRS: '$cidr' is not an IPv4 address or CIDR"
done
# "CIDR" or "CIDR:PORT" entries -> iptables match arguments, all checked before any rule changes.
allow_holes=()
for entry in $(split "$allow"); do
  address=${entry%%:*}
  [[ $address =~ $cidr_pattern ]] || die "SLIPWAY_SANDBOX_ALLOW: '$entry' is not CIDR or CIDR:PORT"
  if [ "$address" = "$entry" ]; then
    allow_holes+=("-d $address")
  else
    port=${entry#*:}
    [[ $port =~ ^[0-9]{1,5}$ ]] || die "SLIPWAY_SANDBOX_ALLOW: '$entry' has a bad port"
    allow_holes+=("-d $address -p tcp --dport $port")
  fi
done
proxy_holes=()
if [ -n "$build_proxy" ]; then
  rest=${build_proxy#*://}; rest=${rest%%/*}; rest=${rest##*@}
  proxy_host=${rest%:*}; proxy_port=${rest##*:}
  [ "$proxy_host" != "$rest" ] || proxy_port=$([[ $build_proxy == https://* ]] && echo 443 || echo 80)
  [[ $proxy_port =~ ^[0-9]{1,5}$ ]] || die "SLIPWAY_BUILD_PROXY: cannot read a port from it"
  if [[ $proxy_host =~ $cidr_pattern ]]; then addresses=$proxy_host; else addresses=$(getent ahostsv4 "$proxy_host" | awk '{print $1}' | sort -u); fi
  [ -n "$addresses" ] || die "SLIPWAY_BUILD_PROXY: cannot resolve its host"
  for address in $addresses; do
    [[ $address == 127.* ]] && die "SLIPWAY_BUILD_PROXY: $proxy_host is the host's loopback, which no container reaches; use an address of the host that containers reach (say, the host's LAN address)"
    proxy_holes+=("-d $address -p tcp --dport $proxy_port")
  done
fi
resolvers=$(awk '$1 == "nameserver" && $2 ~ /^[0-9.]+$/ && $2 !~ /^127\./ {print $2}' /etc/resolv.conf 2>/dev/null | sort -u)

iptables -n -L DOCKER-USER >/dev/null 2>&1 || die "the DOCKER-USER chain is missing: start dockerd first"
# Docker's enable_icc=false and these rules see traffic between containers of one bridge
# only when bridged frames pass through iptables.
[ -e /proc/sys/net/bridge/bridge-nf-call-iptables ] || modprobe br_netfilter 2>/dev/null || true
if [ "$(cat /proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null)" != 1 ]; then
  echo 1 2>/dev/null >/proc/sys/net/bridge/bridge-nf-call-iptables ||
    log "warning: bridged traffic bypasses iptables (br_netfilter); containers of one sandbox network may reach one another"
fi

for chain in "$forward_chain" "$into_chain" "$out_chain" "$host_chain"; do
  iptables -n -L "$chain" >/dev/null 2>&1 || iptables -N "$chain"
  iptables -F "$chain"
done

# Forwarded traffic (from DOCKER-USER, ahead of Docker's own rules).
iptables -A "$forward_chain" -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN
for bridge in "$build_bridge" "$runtime_bridge"; do
  iptables -A "$forward_chain" -o "$bridge" -j "$into_chain"
  iptables -A "$forward_chain" -i "$bridge" -j "$out_chain"
done

# Into a sandbox bridge: never from a sandboxed container (the same network or the other);
# from elsewhere only to a runtime's published port (a DNAT), when SLIPWAY_RUNTIME_HOST is
# not loopback.
iptables -A "$into_chain" -i "$build_bridge" "${reject[@]}"
iptables -A "$into_chain" -i "$runtime_bridge" "${reject[@]}"
iptables -A "$into_chain" -o "$runtime_bridge" -m conntrack --ctstate DNAT -j RETURN
iptables -A "$into_chain" "${reject[@]}"

# Out of a sandbox bridge, to anything but the host.
for resolver in $resolvers; do
  iptables -A "$out_chain" -d "$resolver" -p udp --dport 53 -j RETURN
  iptables -A "$out_chain" -d "$resolver" -p tcp --dport 53 -j RETURN
done
for hole in "${proxy_holes[@]}"; do
  # shellcheck disable=SC2086
  iptables -A "$out_chain" -i "$build_bridge" $hole -j RETURN
done
for hole in "${allow_holes[@]}"; do
  # shellcheck disable=SC2086
  iptables -A "$out_chain" $hole -j RETURN
done
iptables -A "$out_chain" -o docker0 "${reject[@]}"
iptables -A "$out_chain" -o br-+ "${reject[@]}"
iptables -A "$out_chain" -d 169.254.0.0/16 "${reject[@]}"
for cidr in $(split "$deny_cidrs"); do
  iptables -A "$out_chain" -d "$cidr" "${reject[@]}"
done

# To the host itself: only replies to connections the host opened (the gateway calling a
# runtime through its published port), and the holes.
iptables -A "$host_chain" -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN
for hole in "${proxy_holes[@]}"; do
  # shellcheck disable=SC2086
  iptables -A "$host_chain" -i "$build_bridge" $hole -j RETURN
done
for hole in "${allow_holes[@]}"; do
  # shellcheck disable=SC2086
  iptables -A "$host_chain" $hole -j RETURN
done
iptables -A "$host_chain" "${reject[@]}"

jump() {
  local chain=$1; shift
  iptables -C "$chain" "$@" 2>/dev/null || iptables -I "$chain" 1 "$@"
}
jump DOCKER-USER -j "$forward_chain"
jump INPUT -i "$build_bridge" -j "$host_chain"
jump INPUT -i "$runtime_bridge" -j "$host_chain"
log "rules in place for $build_bridge and $runtime_bridge (refused besides the host and other containers: 169.254.0.0/16${deny_cidrs:+,$deny_cidrs}; holes: DNS${allow:+, $allow}${build_proxy:+, the build proxy for builds})"
