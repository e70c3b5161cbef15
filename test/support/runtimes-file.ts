// SLIPWAY_TEST_RUNTIME_TAG=<tag> runs a test stack's built-in runtimes from
// slipway/runtime-<name>:<tag> instead of :local, with the same user and read-only root as the
// built-in ones (SLIPWAY_RUNTIME_IMAGE_* would drop those), to try images built from a branch
// without re-tagging the shared ones. Returns the stack env that does it (none for `local`).
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

export async function runtimesFile(tag: string | undefined): Promise<Record<string, string>> {
  if (!tag || tag === "local") return {};
  const dir = await mkdtemp(join(tmpdir(), "slipway-runtimes-"));
  const file = join(dir, "runtimes.yml");
  // The built-in runtimes as src/runtimes/runtime-catalog.ts has them, from other tags (JSON is YAML).
  const sandbox = { user: "10001:10001", readOnlyRootfs: true };
  const runtimes = [
    { name: "node-20", image: `slipway/runtime-node-20:${tag}`, entrypoint: "index.js", commands: "npm install", startsFrom: "entrypoint", ...sandbox },
    { name: "python-3.13", image: `slipway/runtime-python-3.13:${tag}`, entrypoint: "main.py", startsFrom: "entrypoint", ...sandbox },
    {
      name: "rust-1.85",
      image: `slipway/runtime-rust-1.85:${tag}`,
      entrypoint: "src/lib.rs",
      buildTimeoutSeconds: 1800,
      buildMemoryMb: 4096,
      startsFrom: { file: "slipway-rust-server" },
      ...sandbox,
    },
  ];
  await writeFile(file, JSON.stringify(runtimes, null, 2));
  return { SLIPWAY_RUNTIMES_FILE: file };
}
