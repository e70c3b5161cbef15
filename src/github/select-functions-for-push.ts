// Decides which functions a push deploys: those whose branch (by default the repository's
// default branch) is the pushed one, with the runtime's defaults filled in.
import type { Runtime } from "../runtimes/runtime-catalog.js";
import type { SlipwayConfig } from "./parse-slipway-config.js";

export type SelectedFunction = {
  id: string;
  runtime: string;
  root: string;
  entrypoint: string;
  commands: string;
  branch: string;
  cache: boolean;
};

export function selectFunctionsForPush(
  config: SlipwayConfig,
  runtimes: Map<string, Runtime>,
  push: { branch: string; defaultBranch: string },
): SelectedFunction[] {
  return config.functions
    .map((fn) => {
      const runtime = runtimes.get(fn.runtime)!;
      const commands = fn.commands === undefined ? runtime.commands : Array.isArray(fn.commands) ? fn.commands.join(" && ") : fn.commands;
      return {
        id: fn.id,
        runtime: fn.runtime,
        root: fn.root.replace(/\/+$/, "") || ".",
        entrypoint: fn.entrypoint ?? runtime.entrypoint,
        commands,
        branch: fn.branch ?? push.defaultBranch,
        cache: fn.cache,
      };
    })
    .filter((fn) => fn.branch === push.branch);
}
