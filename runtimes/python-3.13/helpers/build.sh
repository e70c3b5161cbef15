#!/bin/bash
# Executor contract: bash helpers/build.sh '<build commands>'
#
# Input : function source in /mnt/code (copied in by the executor).
# Output: /mnt/code/code.tar.gz, a gzip tarball of the built function folder,
#         with a .open-runtimes metadata file at its root and the function's
#         virtualenv in runtime-env/.
# Env   : OPEN_RUNTIMES_ENTRYPOINT (recorded in the metadata; default main.py)
#         PIP_CACHE_DIR (optional pip cache, e.g. a volume at /mnt/cache/pip)
#         PIP_CERT / NODE_EXTRA_CA_CERTS (CA bundle for a TLS-intercepting proxy)
#
# The virtualenv is created in /usr/local/build/runtime-env and activated for the
# build commands, so `pip install -r requirements.txt` installs into it. After the
# build its few absolute paths (script shebangs, activate scripts, .pth files) are
# rewritten to where the artifact is extracted: /usr/local/server/src/function.
set -euo pipefail
shopt -s dotglob nullglob

. /usr/local/server/helpers/lib.sh

SOURCE_DIR=/mnt/code
BUILD_DIR="$SLIPWAY_BUILD_DIR"
ARTIFACT="$SOURCE_DIR/code.tar.gz"
VENV="$BUILD_DIR/$SLIPWAY_VENV_NAME"
RUNTIME_VENV="$SLIPWAY_FUNCTION_DIR/$SLIPWAY_VENV_NAME"
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

# pip verifies TLS against its own bundle, not NODE_EXTRA_CA_CERTS: when only an
# extra CA was handed in, combine it with the system bundle for pip and friends.
extra_ca="${NODE_EXTRA_CA_CERTS:-/usr/local/share/slipway/extra-ca.crt}"
if [ -z "${PIP_CERT:-}" ] && [ -f "$extra_ca" ]; then
	combined=/tmp/slipway-ca-bundle.crt
	cat /etc/ssl/certs/ca-certificates.crt "$extra_ca" >"$combined"
	export PIP_CERT="$combined" REQUESTS_CA_BUNDLE="$combined" SSL_CERT_FILE="$combined"
fi

if [ -n "${PIP_CACHE_DIR:-}" ]; then
	mkdir -p "$PIP_CACHE_DIR"
	slipway_log "Using pip cache $PIP_CACHE_DIR."
else
	export PIP_NO_CACHE_DIR=1
fi

# Rewrites the absolute path of a virtualenv inside its scripts and pyvenv.cfg.
relocate_venv() {
	local dir="$1" from="$2" to="$3"
	while IFS= read -r -d '' file; do
		sed -i "s|$from|$to|g" "$file"
	done < <(grep -rlIZF -- "$from" "$dir/bin" "$dir/pyvenv.cfg" 2>/dev/null || true)
}

if [ -e "$VENV" ]; then
	# A virtualenv from the source tree points at paths of another machine.
	slipway_log "Warning: replacing the $SLIPWAY_VENV_NAME folder found in the source with a fresh virtualenv."
	rm -rf "$VENV"
fi
# The image carries a ready virtualenv (pip included); copying it is much
# faster than running ensurepip for every build.
if [ -x "$SLIPWAY_VENV_TEMPLATE/bin/python3" ]; then
	cp -a "$SLIPWAY_VENV_TEMPLATE" "$VENV"
	relocate_venv "$VENV" "$SLIPWAY_VENV_TEMPLATE" "$VENV"
else
	python3 -m venv --copies "$VENV"
fi
export VIRTUAL_ENV="$VENV"
export PATH="$VENV/bin:$PATH"
unset PYTHONHOME

slipway_log "Environment preparation finished ($(python --version 2>&1), virtualenv $SLIPWAY_VENV_NAME)."

# The command as one log line (newlines shown as \n).
COMMANDS_LINE="${COMMANDS//$'\n'/\\n}"

# requirements.txt is installed even without a build command; a command that
# names requirements.txt itself (the usual `pip install -r requirements.txt`)
# is left to do it.
if [ -f requirements.txt ] && [[ "$COMMANDS" != *requirements.txt* ]]; then
	slipway_log "Installing requirements.txt."
	set +e
	pip install -r requirements.txt
	status=$?
	set -e
	if [ "$status" -ne 0 ]; then
		slipway_error "Build command failed with exit code $status: pip install -r requirements.txt"
		exit "$status"
	fi
fi

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
	slipway_log "No build command given."
fi

slipway_log "Build packaging started."

cd "$BUILD_DIR"

# pip installs at build time only. Left in, its ~940 files are most of a small function's
# artifact and most of the time a cold start spends unpacking it.
if [ -d "$VENV" ]; then
	rm -rf "$VENV"/lib/python3*/site-packages/pip "$VENV"/lib/python3*/site-packages/pip-*.dist-info "$VENV"/bin/pip "$VENV"/bin/pip3 "$VENV"/bin/pip3.*
	slipway_log "Left pip out of the artifact: a function runs with the packages it was built with."
fi

# Relocate the virtualenv: its interpreter finds its prefix through pyvenv.cfg
# next to it, but scripts and activate files carry the build path.
if [ -d "$VENV" ]; then
	relocate_venv "$VENV" "$VENV" "$RUNTIME_VENV"
	# Editable installs (pip install -e .) point at the build folder.
	while IFS= read -r -d '' file; do
		sed -i "s|$BUILD_DIR/|$SLIPWAY_FUNCTION_DIR/|g" "$file"
	done < <(find "$VENV/lib" -maxdepth 3 \( -name '*.pth' -o -name '*.egg-link' \) -print0 2>/dev/null | xargs -0r grep -lIZF -- "$BUILD_DIR/" 2>/dev/null || true)
fi

entrypoint="${OPEN_RUNTIMES_ENTRYPOINT:-main.py}"
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
