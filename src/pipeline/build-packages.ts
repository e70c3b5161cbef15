// Owns `build.packages` (slipway.yml): Debian packages installed in the build container
// before the build commands, and the shared libraries of what they bring shipped inside the
// artifact so the function finds them where it runs.
//
// The rule. Builds and runtime containers of a function use the same image, so whatever the
// image already has is there at run time too. A runtime container cannot install anything
// (it runs as uid 10001 on a read-only root), so what the packages add is carried in the
// artifact instead: every package the install added that is not a -dev, -doc or -bin
// package (the run-time libraries the -dev packages depend on, e.g. libvips42t64 for
// libvips-dev) has its shared objects (`*.so*` under /lib and /usr/lib) copied, flat, into
// `.slipway-packages/lib/` of the function's folder. Runtime containers get
// LD_LIBRARY_PATH pointing there (src/gateway/runtime-containers.ts). Programs, data files
// and plugins a library loads from a fixed path are not shipped.
//
// Caching: apt's package lists and downloaded .debs live in the function's cache volume
// (/mnt/cache/apt). A build whose packages are all cached installs them without touching
// the network; when the cached lists are missing or out of date, apt-get update runs once.

/** Folder, inside the function's folder and so inside the artifact, that holds the shipped libraries. */
export const shippedPackagesFolder = ".slipway-packages";
/** Where the artifact is unpacked in a runtime container (the open-runtimes contract). */
export const runtimeFunctionFolder = "/usr/local/server/src/function";
export const shippedLibraryPath = `${runtimeFunctionFolder}/${shippedPackagesFolder}/lib`;

// Bash, run as root in the build container before helpers/build.sh. The names come in
// SLIPWAY_BUILD_PACKAGES, already checked against Debian's rule by the config parser.
export const buildPackagesScript = String.raw`
slipway_packages() {
  local names="$SLIPWAY_BUILD_PACKAGES"
  [ -n "$names" ] || return 0
  echo "[slipway] Installing build.packages: $names"
  if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-query >/dev/null 2>&1; then
    echo "[slipway] ERROR: build.packages needs a Debian-based runtime image; this image has no apt-get." >&2
    return 1
  fi
  local apt_dir=/tmp/slipway-apt
  if [ -d /mnt/cache ] && [ -w /mnt/cache ]; then apt_dir=/mnt/cache/apt; fi
  mkdir -p "$apt_dir/archives/partial" "$apt_dir/lists/partial"
  local opts=(-q -o "Dir::Cache::Archives=$apt_dir/archives" -o "Dir::State::Lists=$apt_dir/lists" -o APT::Sandbox::User=root -o Acquire::Languages=none)
  export DEBIAN_FRONTEND=noninteractive
  dpkg-query -W -f '${"${Package}"}\n' | sort >/tmp/slipway-packages-before
  local installed=0
  if compgen -G "$apt_dir/lists/*_Packages*" >/dev/null; then
    echo "[slipway] Using the cached package lists."
    apt-get "${"${opts[@]}"}" install -y --no-install-recommends $names && installed=1
  fi
  if [ "$installed" -eq 0 ]; then
    apt-get "${"${opts[@]}"}" update || { echo "[slipway] ERROR: apt-get update failed; Debian's mirrors could not be reached from the build." >&2; return 1; }
    apt-get "${"${opts[@]}"}" install -y --no-install-recommends $names || {
      echo "[slipway] ERROR: build.packages could not be installed: $names. Check each name on https://packages.debian.org (suite trixie)." >&2
      return 1
    }
  fi
  dpkg-query -W -f '${"${Package}"}\n' | sort >/tmp/slipway-packages-after
  local dest="/mnt/code/${shippedPackagesFolder}/lib" count=0 pkg file
  rm -rf "/mnt/code/${shippedPackagesFolder}"
  mkdir -p "$dest"
  while read -r pkg; do
    case "$pkg" in *-dev | *-dev-bin | *-doc | *-bin) continue ;; esac
    while read -r file; do
      case "$file" in /lib/*.so | /lib/*.so.* | /usr/lib/*.so | /usr/lib/*.so.*) ;; *) continue ;; esac
      [ -f "$file" ] || continue
      # A link to a file next to it stays a link; any other is followed, since a link in
      # the artifact may not point outside it.
      if [ -L "$file" ] && [[ "$(readlink "$file")" != */* ]]; then cp -P "$file" "$dest/"; else cp -L "$file" "$dest/"; fi
      count=$((count + 1))
    done < <(dpkg -L "$pkg" 2>/dev/null)
  done < <(comm -13 /tmp/slipway-packages-before /tmp/slipway-packages-after)
  if [ "$count" -eq 0 ]; then rm -rf "/mnt/code/${shippedPackagesFolder}"; fi
  echo "[slipway] build.packages installed; $count shared librar$([ "$count" -eq 1 ] && echo y || echo ies) shipped in ${shippedPackagesFolder}/lib for run time."
}
slipway_packages || exit 1
`;
