// What github.com refuses in an app manifest posted to /settings/apps/new: missing or
// malformed URLs, permissions or levels GitHub does not have (checked against the OpenAPI
// description's app-permissions schema), events GitHub does not send (checked against
// @octokit/webhooks-examples), and events the manifest's permissions do not allow.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { openApiDescriptionPath } from "./create-openapi-validator.js";

export interface ManifestInput {
  name?: string;
  url?: string;
  description?: string;
  hook_attributes?: { url?: string; active?: boolean };
  redirect_url?: string;
  setup_url?: string;
  callback_urls?: string[];
  public?: boolean;
  default_permissions?: Record<string, string>;
  default_events?: string[];
}

// The permission an app needs to subscribe to an event (any one of them), as GitHub's
// "Webhook events and payloads" page lists it; only events this table knows are checked.
const EVENT_PERMISSIONS: Record<string, string[]> = {
  push: ["contents"],
  commit_comment: ["contents"],
  create: ["contents"],
  delete: ["contents"],
  pull_request: ["pull_requests"],
  pull_request_review: ["pull_requests"],
  check_run: ["checks"],
  check_suite: ["checks"],
  issue_comment: ["issues", "pull_requests"],
  issues: ["issues"],
  deployment: ["deployments"],
  deployment_status: ["deployments"],
  status: ["statuses"],
};

let known: { permissions: Record<string, string[]>; events: Set<string> } | null = null;

function knownNames(): { permissions: Record<string, string[]>; events: Set<string> } {
  if (known) return known;
  const spec = JSON.parse(readFileSync(openApiDescriptionPath(), "utf8")) as {
    components: { schemas: Record<string, { properties?: Record<string, { enum?: string[] }> }> };
  };
  const properties = spec.components.schemas["app-permissions"]?.properties ?? {};
  const require = createRequire(import.meta.url);
  const examples = require("@octokit/webhooks-examples/api.github.com/index.json") as { name: string }[];
  known = {
    permissions: Object.fromEntries(Object.entries(properties).map(([name, schema]) => [name, schema.enum ?? []])),
    events: new Set(examples.map((e) => e.name)),
  };
  return known;
}

function isHttpUrl(value: unknown): boolean {
  if (typeof value !== "string") return false;
  try {
    return ["http:", "https:"].includes(new URL(value).protocol);
  } catch {
    return false;
  }
}

export function manifestProblems(manifest: ManifestInput): string[] {
  const { permissions, events } = knownNames();
  const problems: string[] = [];
  if (typeof manifest !== "object" || manifest === null) return ["the manifest is not a JSON object"];
  if (!manifest.name?.trim()) problems.push("name is required");
  if (!isHttpUrl(manifest.url)) problems.push("url (the app's homepage) must be an http(s) URL");
  if (!isHttpUrl(manifest.redirect_url)) problems.push("redirect_url must be an http(s) URL");
  if (manifest.setup_url !== undefined && !isHttpUrl(manifest.setup_url)) problems.push("setup_url must be an http(s) URL");
  if (manifest.hook_attributes?.active !== false && !isHttpUrl(manifest.hook_attributes?.url)) problems.push("hook_attributes.url must be an http(s) URL");
  if (manifest.hook_attributes?.url && /example\.(com|org|net)/.test(manifest.hook_attributes.url)) problems.push("hook_attributes.url is a placeholder");
  const granted = manifest.default_permissions ?? {};
  for (const [name, level] of Object.entries(granted)) {
    const levels = permissions[name];
    if (!levels) problems.push(`default_permissions.${name} is not a GitHub App permission`);
    else if (!levels.includes(level)) problems.push(`default_permissions.${name} must be one of ${levels.join(", ")}`);
  }
  for (const event of manifest.default_events ?? []) {
    if (!events.has(event)) problems.push(`default_events: ${event} is not a webhook event`);
    const needs = EVENT_PERMISSIONS[event];
    if (needs && !needs.some((name) => granted[name])) problems.push(`default_events: ${event} needs the ${needs.join(" or ")} permission`);
  }
  return problems;
}
