// Owns skipping a Node function's dependency install when nothing it depends on changed
// since the function's last successful build: package.json, package-lock.json,
// npm-shrinkwrap.json and .npmrc (byte for byte), the build's variables, build.packages,
// its commands and the runtime image. Their digest is the dependency key (an HMAC, so that
// what is stored says nothing about the variables' values).
//
// How. The build container gets a bash function `npm` (exported, so the build commands'
// shell uses it) in front of the real one. `npm install` / `npm ci` (flags only, no package
// names) in the function's folder, after a successful install, keeps node_modules and the
// lockfile in the function's build cache (/mnt/cache/slipway-deps/npm) under that key. The
// next build restores that copy instead of installing only when all three agree: the
// worker's key equals the key of the function's last successful build (the database says
// so), the cached copy was saved under the same key and npm arguments, and the files as
// the commands left them right before `npm` ran still hash to what the worker read from
// the source (a command that rewrites package.json first gets a real install). Anything
// else installs, and says why in the build log. A restore that fails installs too.
import { createHash, createHmac } from "node:crypto";
import { lstat, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Queryable } from "../store/create-database.js";

/** The files whose bytes decide what `npm install` puts in node_modules. */
export const dependencyFiles = ["package.json", "package-lock.json", "npm-shrinkwrap.json", ".npmrc"] as const;

export type DependencyPlan = {
  /** The HMAC of everything the install depends on. */
  key: string;
  /** The digest of the dependency files alone, as the build container computes it too. */
  filesDigest: string;
  /** The worker found the same key on the function's last successful build. */
  reuse: boolean;
  /** Why the install runs, when it does (for the build log). */
  installReason: string;
};

/**
 * The digest of the dependency files of `directory`, the way the container's shell computes
 * it (`<name> <sha256>` or `<name> -` per file, then sha256 of those lines); null when one
 * of them is not a regular file (a link could point anywhere on the worker's host).
 */
export async function dependencyFilesDigest(directory: string): Promise<string | null> {
  const lines: string[] = [];
  for (const name of dependencyFiles) {
    const path = join(directory, name);
    const stat = await lstat(path).catch(() => null);
    if (!stat) {
      lines.push(`${name} -\n`);
      continue;
    }
    if (!stat.isFile()) return null;
    lines.push(`${name} ${createHash("sha256").update(await readFile(path)).digest("hex")}\n`);
  }
  return createHash("sha256").update(lines.join("")).digest("hex");
}

// Scripts npm runs for the package itself on every install: their output depends on more
// than the dependency files, so a package with one always installs.
const installScripts = ["preinstall", "install", "postinstall", "prepublish", "preprepare", "prepare", "postprepare"];
const dependencyFields = ["dependencies", "devDependencies", "optionalDependencies", "peerDependencies"];

/**
 * Why the package's install must run even with unchanged files, or null when a copy may stand
 * in for it: a script npm runs on install, workspaces, or a dependency on a local folder or
 * file (its contents are not in the key).
 */
export function installMustRun(manifestText: string): string | null {
  let manifest: Record<string, unknown>;
  try {
    manifest = JSON.parse(manifestText) as Record<string, unknown>;
  } catch {
    return "package.json is not valid JSON";
  }
  if (!manifest || typeof manifest !== "object") return "package.json is not an object";
  const scripts = (manifest.scripts ?? {}) as Record<string, unknown>;
  const script = installScripts.find((name) => typeof scripts === "object" && scripts !== null && name in scripts);
  if (script) return `package.json has a "${script}" script, which runs on every install`;
  if (manifest.workspaces) return "package.json declares workspaces";
  for (const field of dependencyFields) {
    const specs = (manifest[field] ?? {}) as Record<string, unknown>;
    if (typeof specs !== "object" || specs === null) continue;
    for (const [name, spec] of Object.entries(specs)) {
      if (typeof spec === "string" && /^(file:|link:|\.{0,2}\/|~\/)/.test(spec)) return `the dependency "${name}" is a local folder or file ("${spec}"), whose contents are not in the key`;
    }
  }
  return null;
}

/** What the build will do about `npm install`; null when the function has no package.json to key on. */
export async function planDependencyInstall(
  db: Queryable,
  options: {
    sourceDirectory: string;
    functionId: string;
    runtime: string;
    deploymentId: string;
    imageId: string;
    commands: string;
    env: string[];
    packages: string[];
    /** Keys the HMAC (the gateway secret: every worker has it, no function can read it). */
    secret: string;
  },
): Promise<DependencyPlan | null> {
  const hasManifest = await lstat(join(options.sourceDirectory, "package.json")).then((s) => s.isFile(), () => false);
  if (!hasManifest) return null;
  const filesDigest = await dependencyFilesDigest(options.sourceDirectory);
  if (!filesDigest) return null;
  const key = createHmac("sha256", `slipway-dependency-key:${options.secret}`)
    .update(JSON.stringify({ v: 1, image: options.imageId, files: filesDigest, commands: options.commands, env: [...options.env].sort(), packages: [...options.packages].sort() }))
    .digest("hex");
  const last = await db.query<{ dependency_key: string | null; version: number }>(
    `select dependency_key, version from deployments
      where function_id = $1 and runtime = $2 and id <> $3 and status = 'ready' and build_finished_at is not null
      order by build_finished_at desc limit 1`,
    [options.functionId, options.runtime, options.deploymentId],
  );
  const previous = last.rows[0];
  const mustRun = installMustRun(await readFile(join(options.sourceDirectory, "package.json"), "utf8"));
  const reuse = !mustRun && previous?.dependency_key === key;
  const installReason = mustRun
    ? mustRun
    : !previous
    ? "this function has no earlier successful build"
    : reuse
      ? ""
      : previous.dependency_key === null
        ? `v${previous.version} kept no copy of its dependencies`
        : `the lockfile, package.json, .npmrc, variables, build.packages, commands or runtime image changed since v${previous.version}`;
  return { key, filesDigest, reuse, installReason };
}

/** The build container's environment for the `npm` wrapper. */
export function dependencyEnvironment(plan: DependencyPlan): string[] {
  return [
    `SLIPWAY_DEPS_KEY=${plan.key}`,
    `SLIPWAY_DEPS_FILES=${plan.filesDigest}`,
    `SLIPWAY_DEPS_REUSE=${plan.reuse ? "1" : "0"}`,
    `SLIPWAY_DEPS_REASON=${plan.installReason}`,
  ];
}

// Bash, run before helpers/build.sh; `export -f` hands the function to the shell that runs
// the build commands. Errors in saving a copy never fail the build: the next one installs.
export const dependencyReuseScript = String.raw`
slipway_deps_files() {
  local f
  for f in package.json package-lock.json npm-shrinkwrap.json .npmrc; do
    if [ -f "$f" ] && [ ! -L "$f" ]; then printf '%s %s\n' "$f" "$(sha256sum < "$f" | cut -d' ' -f1)";
    elif [ -e "$f" ] || [ -L "$f" ]; then printf '%s link\n' "$f";
    else printf '%s -\n' "$f"; fi
  done | sha256sum | cut -d' ' -f1
}
slipway_deps_save() {
  local dir="$1" mark="$2" tmp="$1.partial-$HOSTNAME" f
  rm -rf "$tmp" && mkdir -p "$tmp" || return 1
  if [ -d node_modules ]; then cp -a node_modules "$tmp/node_modules" || return 1; fi
  for f in package-lock.json npm-shrinkwrap.json; do
    if [ -f "$f" ]; then cp -a "$f" "$tmp/$f" || return 1; fi
  done
  printf '%s\n' "$mark" > "$tmp/key" || return 1
  rm -rf "$dir" && mv "$tmp" "$dir"
}
npm() {
  local sub="$1" arg first=1 dir=/mnt/cache/slipway-deps/npm
  local mark="$SLIPWAY_DEPS_KEY npm $*"
  case "$sub" in install|i|ci) ;; *) command npm "$@"; return ;; esac
  for arg in "$@"; do
    if [ "$first" = 1 ]; then first=0; continue; fi
    case "$arg" in -*) ;; *) command npm "$@"; return ;; esac
  done
  if [ "$PWD" != /usr/local/build ] || [ ! -d /mnt/cache ] || [ ! -w /mnt/cache ]; then command npm "$@"; return; fi
  if [ "$(slipway_deps_files)" != "$SLIPWAY_DEPS_FILES" ]; then
    echo "[slipway] Installing dependencies: the build commands changed package.json, a lockfile or .npmrc before npm ran; this install is not kept."
    command npm "$@"
    return
  fi
  if [ "$SLIPWAY_DEPS_REUSE" = 1 ] && [ ! -e node_modules ] && [ -f "$dir/key" ] && [ "$(cat "$dir/key")" = "$mark" ]; then
    local restored=1 f
    if [ -d "$dir/node_modules" ]; then cp -a "$dir/node_modules" node_modules || restored=0; fi
    for f in package-lock.json npm-shrinkwrap.json; do
      if [ "$restored" = 1 ] && [ -f "$dir/$f" ]; then cp -a "$dir/$f" "$f" || restored=0; fi
    done
    if [ "$restored" = 1 ]; then
      echo "[slipway] Dependencies unchanged since the last successful build (package.json, lockfile, .npmrc, variables, image): node_modules restored from the build cache, npm $* skipped."
      return 0
    fi
    rm -rf node_modules
    echo "[slipway] Installing dependencies: the build cache's copy could not be restored."
  elif [ "$SLIPWAY_DEPS_REUSE" = 1 ]; then
    echo "[slipway] Installing dependencies: the build cache holds no copy of them for this key."
  else
    echo "[slipway] Installing dependencies: $SLIPWAY_DEPS_REASON."
  fi
  command npm "$@" || return
  slipway_deps_save "$dir" "$mark" || { rm -rf "$dir.partial-$HOSTNAME"; echo "[slipway] Could not keep a copy of node_modules in the build cache; the next build installs again."; }
  return 0
}
export -f npm slipway_deps_files slipway_deps_save
`;
