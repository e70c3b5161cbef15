// Owns the list of runtimes a function may name in slipway.yml: for each, the image that
// builds and serves it, the defaults a function gets when it says nothing, its build limits,
// and the file every artifact must hold for its container to start. The three built-in
// runtimes are Slipway's own images (runtimes/<name>/); an operator adds more, for example
// official open-runtimes images, in a YAML file named by SLIPWAY_RUNTIMES_FILE:
//
//   - name: go-1.23
//     image: openruntimes/go:v5-1.23
//     entrypoint: main.go
//     commands: ""
//
// An operator's runtime says `startsFrom: entrypoint` or `startsFrom: { file: <path> }` for
// that check; without it its artifacts are not checked for a start file.
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { z } from "zod";
import { ConfigError } from "../config/load-config.js";

const runtimeSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9.-]{0,39}$/, "must be 1-40 characters of a-z, 0-9, '.' and '-'"),
    image: z.string().min(1),
    entrypoint: z.string().min(1),
    commands: z.string().default(""),
    buildTimeoutSeconds: z.number().int().positive().optional(),
    buildMemoryMb: z.number().int().positive().optional(),
    // The file a runtime container starts from, which a build's artifact must hold as a
    // regular file (or a link to one): the function's entrypoint, or a fixed file the build makes.
    startsFrom: z.union([z.literal("entrypoint"), z.object({ file: z.string().min(1) }).strict()]).optional(),
    // The uid:gid its runtime containers run the function as (root when unset), and whether
    // their root filesystem is read-only. Both need an image made for them: see
    // runtimes/node-20/Dockerfile and src/gateway/runtime-sandbox.ts.
    user: z.string().regex(/^[0-9]+(:[0-9]+)?$/, "must be a numeric uid or uid:gid").optional(),
    readOnlyRootfs: z.boolean().optional(),
  })
  .strict();

export type Runtime = z.infer<typeof runtimeSchema>;

// Slipway's images have the user `function` (uid 10001) and the folders it writes.
const builtInSandbox = { user: "10001:10001", readOnlyRootfs: true };

const builtIn: Runtime[] = [
  { name: "node-20", image: "slipway/runtime-node-20:local", entrypoint: "index.js", commands: "npm install", startsFrom: "entrypoint", ...builtInSandbox },
  // requirements.txt is installed into the shipped virtualenv by the image's build script.
  { name: "python-3.13", image: "slipway/runtime-python-3.13:local", entrypoint: "main.py", commands: "", startsFrom: "entrypoint", ...builtInSandbox },
  // `cargo build --release` of the handler and the server crate is the image's own step; the
  // container runs the binary it leaves, so the entrypoint is needed only to build.
  {
    name: "rust-1.85",
    image: "slipway/runtime-rust-1.85:local",
    entrypoint: "src/lib.rs",
    commands: "",
    buildTimeoutSeconds: 1800,
    buildMemoryMb: 4096,
    startsFrom: { file: "slipway-rust-server" },
    ...builtInSandbox,
  },
];

function envName(runtime: string): string {
  return `SLIPWAY_RUNTIME_IMAGE_${runtime.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`;
}

/**
 * The built-in runtimes (each image overridable with SLIPWAY_RUNTIME_IMAGE_<NAME>) plus
 * the operator's own from SLIPWAY_RUNTIMES_FILE, which may also replace a built-in one.
 */
export function loadRuntimeCatalog(env: NodeJS.ProcessEnv = process.env): Map<string, Runtime> {
  const catalog = new Map<string, Runtime>(builtIn.map((runtime) => [runtime.name, runtime]));
  const file = env.SLIPWAY_RUNTIMES_FILE;
  if (file) {
    let raw: unknown;
    try {
      raw = parse(readFileSync(file, "utf8"));
    } catch (error) {
      throw new ConfigError([`SLIPWAY_RUNTIMES_FILE cannot be read as YAML: ${(error as Error).message.split("\n")[0]}`]);
    }
    const parsed = z.array(runtimeSchema).safeParse(raw);
    if (!parsed.success) {
      throw new ConfigError(parsed.error.issues.map((issue) => `SLIPWAY_RUNTIMES_FILE [${issue.path.join(".")}]: ${issue.message}`));
    }
    for (const runtime of parsed.data) catalog.set(runtime.name, runtime);
  }
  for (const [name, runtime] of catalog) {
    const override = env[envName(name)];
    // Another image (say, an official open-runtimes one) need not have the user and folders
    // a read-only root needs: it runs as root, unless SLIPWAY_RUNTIMES_FILE says otherwise.
    if (override) catalog.set(name, { ...runtime, image: override, user: undefined, readOnlyRootfs: undefined });
  }
  return catalog;
}
