import { baseUrlsOf } from "./base-urls-of.js";
import { createGitHubShapes, type UserType } from "./create-github-shapes.js";
import type { JsonObject, JsonValue, RepoRecord } from "./emulator-types.js";

export interface RetargetOptions {
  /** Login of the account that triggered the event. */
  sender: string;
  senderType?: UserType;
  /** Push payloads carry `created_at`/`pushed_at` of the repository as Unix seconds, every other event as ISO strings. */
  style: "push" | "default";
  /** `pushed_at` of the repository (default: now). */
  pushedAt?: string;
}

function deepReplace(value: JsonValue, pairs: Array<[string, string]>): JsonValue {
  if (typeof value === "string") {
    for (const [from, to] of pairs) {
      if (value.startsWith(from)) return to + value.slice(from.length);
    }
    return value;
  }
  if (Array.isArray(value)) return value.map((v) => deepReplace(v, pairs));
  if (value && typeof value === "object") {
    const out: JsonObject = {};
    for (const [k, v] of Object.entries(value)) out[k] = deepReplace(v, pairs);
    return out;
  }
  return value;
}

const seconds = (isoTime: string) => Math.floor(new Date(isoTime).getTime() / 1000);

/**
 * Points a real example payload at an emulator repository: rewrites every github.com /
 * api.github.com URL of the example's repository to the emulator's, replaces `repository`,
 * `installation`, `organization` and `sender`. Event-specific fields are left to the caller.
 */
export function retargetWebhookExample(example: JsonObject, repo: RepoRecord, options: RetargetOptions): JsonObject {
  const urls = baseUrlsOf(repo);
  const shapes = createGitHubShapes(urls);
  const old = example.repository as JsonObject | undefined;
  const oldFull = typeof old?.full_name === "string" ? old.full_name : "Codertocat/Hello-World";
  const webHost = new URL(urls.webUrl).host;
  const pairs: Array<[string, string]> = [
    [`https://api.github.com/repos/${oldFull}`, shapes.repoApiUrl(repo)],
    [`https://github.com/${oldFull}`, shapes.repoHtmlUrl(repo)],
    [`git://github.com/${oldFull}.git`, `git://${webHost}/${repo.full_name}.git`],
    [`git@github.com:${oldFull}.git`, `git@${webHost.replace(/:\d+$/, "")}:${repo.full_name}.git`],
    ["https://api.github.com", urls.apiUrl],
    ["https://uploads.github.com", urls.apiUrl],
    ["https://github.com", urls.webUrl],
  ];
  const payload = deepReplace(example, pairs) as JsonObject;

  const pushedAt = options.pushedAt ?? new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
  const ours = shapes.repository(repo, { pushed_at: pushedAt, updated_at: pushedAt });
  const repository: JsonObject = { ...(payload.repository as JsonObject), ...ours };
  delete repository.permissions;
  if (options.style === "push") {
    const owner = { ...(ours.owner as JsonObject), name: repo.owner, email: null };
    Object.assign(repository, {
      owner,
      created_at: seconds(repo.created_at),
      pushed_at: seconds(pushedAt),
      stargazers: 0,
      master_branch: repo.default_branch,
    });
    if (repo.ownerType === "Organization") repository.organization = repo.owner;
    else delete repository.organization;
  }
  payload.repository = repository;
  payload.installation = { id: repo.installationId, node_id: shapes.nodeId("IntegrationInstallation", repo.installationId) };
  if (repo.ownerType === "Organization") {
    const api = urls.apiUrl;
    const login = encodeURIComponent(repo.owner);
    payload.organization = {
      login: repo.owner,
      id: repo.ownerId,
      node_id: shapes.nodeId("Organization", repo.ownerId),
      url: `${api}/orgs/${login}`,
      repos_url: `${api}/orgs/${login}/repos`,
      events_url: `${api}/orgs/${login}/events`,
      hooks_url: `${api}/orgs/${login}/hooks`,
      issues_url: `${api}/orgs/${login}/issues`,
      members_url: `${api}/orgs/${login}/members{/member}`,
      public_members_url: `${api}/orgs/${login}/public_members{/member}`,
      avatar_url: `${urls.webUrl}/avatars/u/${repo.ownerId}?v=4`,
      description: null,
    };
  } else {
    delete payload.organization;
  }
  delete payload.enterprise;
  payload.sender = shapes.user(options.sender, options.senderType ?? "User");
  return payload;
}
