// Decides which functions a push deploys: those whose branch (by default the repository's
// default branch) is the pushed one, with the runtime's defaults filled in. A pull request
// (branch null) previews every function.
import type { Runtime } from "../runtimes/runtime-catalog.js";
import type { SlipwayConfig } from "../config/parse-slipway-config.js";

export type SelectedFunction = {
  id: string;
  runtime: string;
  root: string;
  entrypoint: string;
  commands: string;
  branch: string;
  cache: boolean;
  watch: string[];
  supersede: boolean;
};

export function selectFunctionsForPush(
  config: SlipwayConfig,
  runtimes: Map<string, Runtime>,
  push: { branch: string | null; defaultBranch: string },
): SelectedFunction[] {
  return config.functions
    .map((fn) => {
      const runtime = runtimes.get(fn.runtime)!;
      const commands = fn.commands === undefined ? runtime.commands : Array.isArray(fn.commands) ? fn.commands.join(" && ") : fn.commands;
      const root = fn.root.replace(/\/+$/, "") || ".";
      return {
        id: fn.id,
        runtime: fn.runtime,
        root,
        entrypoint: fn.entrypoint ?? runtime.entrypoint,
        commands,
        branch: fn.branch ?? push.defaultBranch,
        cache: fn.cache,
        watch: fn.watch ?? [root === "." ? "**" : `${root}/**`, "slipway.yml"],
        supersede: fn.supersede,
      };
    })
    .filter((fn) => push.branch === null || fn.branch === push.branch);
}
