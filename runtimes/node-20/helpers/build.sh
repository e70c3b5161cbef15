#!/bin/bash
# Executor contract: bash helpers/build.sh '<build commands>'
#
# Input : function source in /mnt/code (copied in by the executor).
# Output: /mnt/code/code.tar.gz, a gzip tarball of the built function folder,
#         with a .open-runtimes metadata file at its root.
# Env   : OPEN_RUNTIMES_ENTRYPOINT (recorded in the metadata; default index.js).
set -euo pipefail
shopt -s dotglob nullglob

. /usr/local/server/helpers/lib.sh

SOURCE_DIR=/mnt/code
BUILD_DIR=/usr/local/build
ARTIFACT="$SOURCE_DIR/code.tar.gz"
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
cd "$BUILD_DIR"

slipway_log "Environment preparation finished."

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
else
	slipway_log "No build command given; packaging the source as is."
fi

slipway_log "Build packaging started."

cd "$BUILD_DIR"
entrypoint="${OPEN_RUNTIMES_ENTRYPOINT:-index.js}"
if [ ! -e "$entrypoint" ]; then
	# Not fatal: the server answers 503 and logs the reason, like the reference.
	slipway_log "Warning: entrypoint $entrypoint does not exist in the build output."
fi
{
	printf 'OPEN_RUNTIMES_ENTRYPOINT=%q\n' "$entrypoint"
	printf 'OPEN_RUNTIMES_CLEANUP=%q\n' "${OPEN_RUNTIMES_CLEANUP:-none}"
	printf 'OPEN_RUNTIMES_COMPRESSION=gzip\n'
} >.open-runtimes

tmp_artifact="$(mktemp /tmp/code.XXXXXX.tar.gz)"
tar --exclude=./code.tar.gz -czf "$tmp_artifact" .
mv -f "$tmp_artifact" "$ARTIFACT"
chmod 0644 "$ARTIFACT"

size=$(du -h "$ARTIFACT" | cut -f1)
slipway_log "Build packaging finished ($size)."
slipway_log "Build finished."
