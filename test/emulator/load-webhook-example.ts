import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type { JsonObject } from "./emulator-types.js";

interface WebhookDefinition {
  name: string;
  examples: JsonObject[];
}

let definitions: WebhookDefinition[] | null = null;

/**
 * A deep copy of a real example payload from `@octokit/webhooks-examples` (api.github.com):
 * the first example of `event` that satisfies `pick` (default: the first one).
 */
export function loadWebhookExample(event: string, pick: (example: JsonObject) => boolean = () => true): JsonObject {
  if (!definitions) {
    const require = createRequire(import.meta.url);
    const file = require.resolve("@octokit/webhooks-examples");
    definitions = JSON.parse(readFileSync(file, "utf8")) as WebhookDefinition[];
  }
  const definition = definitions.find((d) => d.name === event);
  if (!definition) throw new Error(`@octokit/webhooks-examples has no ${event} event`);
  const example = definition.examples.find(pick);
  if (!example) throw new Error(`@octokit/webhooks-examples has no ${event} example matching the filter`);
  return structuredClone(example);
}
