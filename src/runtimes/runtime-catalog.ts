// Owns the list of runtimes a function may name in slipway.yml: for each, the image that
// builds and serves it and the defaults a function gets when it says nothing.
export type Runtime = {
  name: string;
  image: string;
  entrypoint: string;
  commands: string;
};

const builtIn: Runtime[] = [
  { name: "node-20", image: "slipway/runtime-node-20:local", entrypoint: "index.js", commands: "npm install" },
];

/** An operator can point a runtime at another image with SLIPWAY_RUNTIME_IMAGE_<NAME>. */
export function loadRuntimeCatalog(env: NodeJS.ProcessEnv = process.env): Map<string, Runtime> {
  const catalog = new Map<string, Runtime>();
  for (const runtime of builtIn) {
    const override = env[`SLIPWAY_RUNTIME_IMAGE_${runtime.name.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`];
    catalog.set(runtime.name, { ...runtime, image: override || runtime.image });
  }
  return catalog;
}
