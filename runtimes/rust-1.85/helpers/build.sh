#!/bin/bash
# Executor contract: bash helpers/build.sh '<build commands>'
#
# Input : a Rust library crate in /mnt/code (copied in by the executor) whose
#         `main(context: openruntimes::Context) -> openruntimes::Response` is
#         the function.
# Output: /mnt/code/code.tar.gz, a gzip tarball holding the release binary
#         `slipway-rust-server` (runtime server + function), the crate's other
#         files (never target/), `.slipway-build/` (resolved Cargo.lock, tool
#         versions) and the .open-runtimes metadata file.
#
# Steps: copy /mnt/code to /usr/local/build; run '<build commands>' there (they
# may be empty; compiling does not depend on them); copy the result to the
# fixed path /usr/local/server/src/function, a member of the workspace in
# /usr/local/server; `cargo build --release`; pack.
#
# Environment:
#   OPEN_RUNTIMES_ENTRYPOINT  the crate's library root (e.g. src/lib.rs or main.rs).
#                             Used as `[lib] path` when that file exists.
#   CARGO_HOME                registry and download cache (cargo's default: ~/.cargo)
#   CARGO_TARGET_DIR          compiled dependencies (default: a throw-away folder)
#   CARGO_HTTP_CAINFO, SSL_CERT_FILE
#                             CA bundle for crates.io. When unset and
#                             /usr/local/share/slipway/extra-ca.crt exists, a bundle
#                             of the system CAs plus that file is used.
# With CARGO_HOME and CARGO_TARGET_DIR on a persistent volume (Slipway mounts
# one at /mnt/cache), rebuilds only compile what changed. A cache that makes
# cargo fail the way a damaged one does is cleared and the build retried once.
set -euo pipefail
shopt -s dotglob nullglob

. /usr/local/server/helpers/lib.sh

SOURCE_DIR=/mnt/code
BUILD_DIR=/usr/local/build
SERVER_DIR=/usr/local/server
CRATE_DIR=$SERVER_DIR/src/function
BINARY=slipway-rust-server
ARTIFACT="$SOURCE_DIR/code.tar.gz"
EXTRA_CA=/usr/local/share/slipway/extra-ca.crt
COMMANDS="${1-}"

slipway_log "Environment preparation started."

if [ ! -d "$SOURCE_DIR" ]; then
	slipway_error "No source code found: $SOURCE_DIR does not exist."
	exit 1
fi
sources=("$SOURCE_DIR"/*)
if [ ${#sources[@]} -eq 0 ]; then
	slipway_error "No source code found: $SOURCE_DIR is empty. Ensure your source isn't empty."
	exit 1
fi

mkdir -p "$BUILD_DIR"
# A previous artifact in the source folder must not end up inside the new one.
for item in "${sources[@]}"; do
	[ "$item" = "$ARTIFACT" ] && continue
	cp -a "$item" "$BUILD_DIR/"
done

# crates.io behind a TLS-intercepting proxy: trust the extra CA as well.
if [ -z "${CARGO_HTTP_CAINFO:-}" ] && [ -f "$EXTRA_CA" ]; then
	combined=/tmp/slipway-ca-bundle.crt
	cat /etc/ssl/certs/ca-certificates.crt "$EXTRA_CA" >"$combined"
	export CARGO_HTTP_CAINFO="$combined"
	export SSL_CERT_FILE="${SSL_CERT_FILE:-$combined}"
fi

TARGET_DIR="${CARGO_TARGET_DIR:-$SERVER_DIR/target}"
# Build bookkeeping kept next to the compiled output, so it goes when that goes.
STATE_DIR=""
if [ -n "${CARGO_TARGET_DIR:-}" ]; then
	STATE_DIR="$CARGO_TARGET_DIR/.slipway"
fi
for dir in "${CARGO_HOME:-}" "${CARGO_TARGET_DIR:-}"; do
	[ -n "$dir" ] || continue
	if [ -e "$dir" ] && [ ! -d "$dir" ]; then
		slipway_log "Build cache: $dir is not a folder; replacing it."
		rm -f "$dir"
	fi
	mkdir -p "$dir"
done
slipway_log "Build cache: CARGO_HOME=${CARGO_HOME:-<default>} CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-<none, no reuse>}"

slipway_log "Environment preparation finished."

# ---- user build commands --------------------------------------------------------

cd "$BUILD_DIR"
# The command as one log line (newlines shown as \n).
COMMANDS_LINE="${COMMANDS//$'\n'/\\n}"
if [ -n "${COMMANDS//[[:space:]]/}" ]; then
	slipway_log "Build command execution started: $COMMANDS_LINE"
	# -e: a multi-line command fails on its first failing line, not only its last.
	set +e
	bash -e -c "$COMMANDS"
	status=$?
	set -e
	if [ "$status" -ne 0 ]; then
		slipway_error "Build command failed with exit code $status: $COMMANDS_LINE"
		exit "$status"
	fi
	slipway_log "Build command execution finished."
fi

# ---- the crate, at its fixed place in the workspace --------------------------------

if [ ! -f "$BUILD_DIR/Cargo.toml" ]; then
	slipway_error "No Cargo.toml found in the function's folder. A Rust function is a library crate whose lib exports \`pub fn main(context: openruntimes::Context) -> openruntimes::Response\`."
	exit 1
fi

slipway_log "Compilation started."
find "$CRATE_DIR" -mindepth 1 -delete
tar -C "$BUILD_DIR" --exclude=./target --exclude=./code.tar.gz -cf - . | tar -C "$CRATE_DIR" -xf -

manifest="$CRATE_DIR/Cargo.toml"

# The user's [workspace] table would make a second workspace root.
if grep -Eq '^[[:space:]]*\[workspace(\..*)?\][[:space:]]*(#.*)?$' "$manifest"; then
	slipway_log "Note: the crate's [workspace] table is ignored; it is built inside the runtime's workspace."
fi

entrypoint="${OPEN_RUNTIMES_ENTRYPOINT:-}"
set_lib_path=""
if [[ "$entrypoint" =~ ^[A-Za-z0-9_][A-Za-z0-9_./-]*\.rs$ ]] && [[ "$entrypoint" != *..* ]] && [ -f "$CRATE_DIR/$entrypoint" ]; then
	set_lib_path="$entrypoint"
	slipway_log "Library root: $entrypoint"
elif [ -n "$entrypoint" ]; then
	slipway_log "Entrypoint $entrypoint is not a .rs file of the crate; using the library target Cargo.toml defines."
fi

# Drop [workspace]/[workspace.*] tables; point [lib] at the entrypoint.
awk -v ep="$set_lib_path" '
	function header_of(line) { gsub(/[[:space:]]/, "", line); sub(/#.*/, "", line); return line }
	/^[[:space:]]*\[/ {
		h = header_of($0)
		if (in_lib && ep != "" && !path_done) { print "path = \"" ep "\""; path_done = 1 }
		in_ws = (h ~ /^\[workspace(\.[^]]*)?\]$/)
		in_lib = (h == "[lib]")
		if (in_lib) lib_seen = 1
		if (in_ws) next
		print
		next
	}
	in_ws { next }
	in_lib && ep != "" && /^[[:space:]]*path[[:space:]]*=/ { print "path = \"" ep "\""; path_done = 1; next }
	{ print }
	END {
		if (in_lib && ep != "" && !path_done) print "path = \"" ep "\""
		if (ep != "" && !lib_seen) { print ""; print "[lib]"; print "path = \"" ep "\"" }
	}
' "$manifest" >"$manifest.slipway"
mv "$manifest.slipway" "$manifest"

package=$(awk '
	/^[[:space:]]*\[/ { h = $0; gsub(/[[:space:]]/, "", h); in_pkg = (h ~ /^\[package\]/); next }
	in_pkg && /^[[:space:]]*name[[:space:]]*=/ {
		if (match($0, /"[^"]*"/)) { print substr($0, RSTART + 1, RLENGTH - 2); exit }
		if (match($0, /\047[^\047]*\047/)) { print substr($0, RSTART + 1, RLENGTH - 2); exit }
	}
' "$manifest")
if [ -z "$package" ]; then
	slipway_error "Cargo.toml has no [package] name."
	exit 1
fi

# Root manifest: rewritten only when it changes, so its mtime stays put.
sed "s/@HANDLER_PACKAGE@/$package/" "$SERVER_DIR/Cargo.toml.in" >/tmp/slipway-root.toml
if ! cmp -s /tmp/slipway-root.toml "$SERVER_DIR/Cargo.toml"; then
	cp /tmp/slipway-root.toml "$SERVER_DIR/Cargo.toml"
fi

# Cargo decides what to recompile from mtimes. The source arrived with fresh
# ones, so give files whose content the previous build (same cache) already
# compiled that build's mtime back, and everything else "now".
restore_mtimes() {
	local previous_manifest="$STATE_DIR/sources.txt"
	local next_manifest=/tmp/slipway-sources.txt
	local -A previous=()
	local hash mtime path unchanged=0 changed=0
	if [ -f "$previous_manifest" ]; then
		while read -r hash mtime path; do
			previous["$hash $path"]=$mtime
		done <"$previous_manifest"
	fi
	: >"$next_manifest"
	while read -r hash path; do
		mtime="${previous["$hash $path"]:-}"
		if [ -n "$mtime" ]; then
			touch -m -d "@$mtime" -- "$CRATE_DIR/$path" 2>/dev/null || true
			unchanged=$((unchanged + 1))
		else
			touch -m -- "$CRATE_DIR/$path" 2>/dev/null || true
			mtime=$(stat -c %Y -- "$CRATE_DIR/$path" 2>/dev/null || echo 0)
			changed=$((changed + 1))
		fi
		printf '%s %s %s\n' "$hash" "$mtime" "$path" >>"$next_manifest"
	done < <(cd "$CRATE_DIR" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum)
	slipway_log "Source files: $changed new or changed, $unchanged unchanged since the cached build."
}
if [ -n "$STATE_DIR" ]; then
	restore_mtimes
fi

# Cargo.lock: the function's own lock is honoured (cargo keeps every version
# it pins and only adds the runtime's crates); without one, the runtime's
# baseline lock is the starting point. The lock cargo resolved last time from
# the same starting point is reused, which saves an index round trip.
if [ -f "$CRATE_DIR/Cargo.lock" ]; then
	seed="$CRATE_DIR/Cargo.lock"
	slipway_log "Using the crate's Cargo.lock."
else
	seed="$SERVER_DIR/Cargo.lock.baseline"
fi
lock_key=$(cat "$seed" "$SERVER_DIR/Cargo.toml" "$SERVER_DIR/runtime/Cargo.toml" | sha256sum | cut -c1-64)
if [ -n "$STATE_DIR" ] && [ -f "$STATE_DIR/Cargo.lock" ] && [ "$(cat "$STATE_DIR/lock.key" 2>/dev/null)" = "$lock_key" ]; then
	cp "$STATE_DIR/Cargo.lock" "$SERVER_DIR/Cargo.lock"
else
	cp "$seed" "$SERVER_DIR/Cargo.lock"
fi

# ---- compile --------------------------------------------------------------------

CARGO_LOG_FILE=/tmp/slipway-cargo.log

run_cargo() {
	local status
	set +e
	(cd "$SERVER_DIR" && cargo build --release --bin "$BINARY") 2>&1 | tee "$CARGO_LOG_FILE"
	status=${PIPESTATUS[0]}
	set -e
	return "$status"
}

# Prints why cargo's output looks like a damaged cache (nothing if it does not).
cache_damage() {
	local pattern
	for pattern in \
		'found invalid metadata files for crate' \
		'can'"'"'t find crate for' \
		'required to be available in rlib format' \
		'invalid metadata' \
		'corrupt metadata' \
		'failed to mmap' \
		'file truncated' \
		'file too short' \
		'file format not recognized' \
		'invalid ELF header' \
		'malformed archive' \
		'archive has no index' \
		'error adding symbols' \
		'cannot open shared object file' \
		'Exec format error' \
		'failed to parse lock file' \
		'failed to unpack package' \
		'failed to verify the checksum' \
		'the compiler unexpectedly panicked'; do
		if grep -qF -- "$pattern" "$CARGO_LOG_FILE"; then
			echo "$pattern"
			return
		fi
	done
	# Compile errors inside the registry's extracted sources point at damaged files there.
	if [ -n "${CARGO_HOME:-}" ] && grep -qE -- "--> ${CARGO_HOME%/}/registry/src/" "$CARGO_LOG_FILE"; then
		echo "errors in extracted registry sources"
	fi
}

# Clears the compiled output; registry downloads too when they look damaged.
clear_cache() {
	local reason="$1"
	if [ -n "${CARGO_TARGET_DIR:-}" ]; then
		find "$CARGO_TARGET_DIR" -mindepth 1 -delete 2>/dev/null || true
	else
		rm -rf "$SERVER_DIR/target"
	fi
	if [ -n "${CARGO_HOME:-}" ]; then
		rm -rf "$CARGO_HOME/registry/src"
		case "$reason" in
		*unpack* | *checksum*) rm -rf "$CARGO_HOME/registry/cache" ;;
		esac
	fi
	# The lock we reused may be what is damaged: start again from the seed.
	cp "$seed" "$SERVER_DIR/Cargo.lock"
}

attempt=1
while :; do
	reason=""
	if run_cargo; then
		if "$TARGET_DIR/release/$BINARY" --slipway-version >/dev/null 2>&1; then
			break
		fi
		reason="the binary cargo reported as up to date does not run"
	else
		status=$?
		reason=$(cache_damage)
		if [ -z "$reason" ]; then
			slipway_error "Compilation failed (cargo exit code $status)."
			exit "$status"
		fi
	fi
	if [ "$attempt" -ge 2 ] || { [ -z "${CARGO_TARGET_DIR:-}" ] && [ -z "${CARGO_HOME:-}" ]; }; then
		slipway_error "Compilation failed: $reason."
		exit 1
	fi
	slipway_log "Build cache looks damaged ($reason): clearing ${CARGO_TARGET_DIR:-$SERVER_DIR/target}${CARGO_HOME:+ and the extracted registry sources in $CARGO_HOME} and retrying once."
	clear_cache "$reason"
	attempt=2
done
slipway_log "Compilation finished."

cp "$TARGET_DIR/release/$BINARY" "$BUILD_DIR/$BINARY"
chmod 0755 "$BUILD_DIR/$BINARY"

if [ -n "$STATE_DIR" ]; then
	mkdir -p "$STATE_DIR"
	cp /tmp/slipway-sources.txt "$STATE_DIR/sources.txt" 2>/dev/null || true
	cp "$SERVER_DIR/Cargo.lock" "$STATE_DIR/Cargo.lock"
	printf '%s\n' "$lock_key" >"$STATE_DIR/lock.key"
fi

# ---- package --------------------------------------------------------------------

slipway_log "Build packaging started."

cd "$BUILD_DIR"
mkdir -p .slipway-build
cp "$SERVER_DIR/Cargo.lock" .slipway-build/Cargo.lock
{
	echo "package=$package"
	echo "rustc=$(rustc --version)"
	echo "cargo=$(cargo --version)"
	echo "runtime=$("./$BINARY" --slipway-version)"
} >.slipway-build/info.txt
{
	printf 'OPEN_RUNTIMES_ENTRYPOINT=%q\n' "${OPEN_RUNTIMES_ENTRYPOINT:-}"
	printf 'OPEN_RUNTIMES_CLEANUP=%q\n' "${OPEN_RUNTIMES_CLEANUP:-none}"
	printf 'OPEN_RUNTIMES_COMPRESSION=gzip\n'
} >.open-runtimes

tmp_artifact="$(mktemp /tmp/code.XXXXXX.tar.gz)"
tar --exclude=./code.tar.gz --exclude=./target -czf "$tmp_artifact" .
mv -f "$tmp_artifact" "$ARTIFACT"
chmod 0644 "$ARTIFACT"

size=$(du -h "$ARTIFACT" | cut -f1)
slipway_log "Build packaging finished ($size)."
slipway_log "Build finished."
