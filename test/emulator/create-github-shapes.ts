import type { AccountType, AppInfo, BaseUrls, JsonObject, RepoRecord } from "./emulator-types.js";
import { userIdFor } from "./user-id-for.js";

export type UserType = AccountType | "Bot";

export interface RepositoryShapeOptions {
  pushed_at?: string | null;
  updated_at?: string;
  permissions?: { admin: boolean; maintain: boolean; push: boolean; triage: boolean; pull: boolean };
}

export interface InstallationShapeInput {
  id: number;
  account: string;
  accountType: AccountType;
  repositorySelection: "all" | "selected";
  created_at: string;
}

/** Builders for GitHub-shaped JSON objects (users, repositories, apps…) under the given base URLs. */
export function createGitHubShapes(urls: BaseUrls) {
  const api = urls.apiUrl.replace(/\/+$/, "");
  const web = urls.webUrl.replace(/\/+$/, "");

  /** Legacy GraphQL node id: base64("0<len>:<Type><id>"), e.g. MDQ6VXNlcjE= for User 1. */
  function nodeId(type: string, id: number | string): string {
    return Buffer.from(`0${type.length}:${type}${id}`).toString("base64");
  }

  function user(login: string, type: UserType = "User", id: number = userIdFor(login)): JsonObject {
    const path = encodeURIComponent(login);
    const isBot = type === "Bot";
    return {
      login,
      id,
      node_id: nodeId(type === "Organization" ? "Organization" : isBot ? "Bot" : "User", id),
      avatar_url: `${web}/avatars/u/${id}?v=4`,
      gravatar_id: "",
      url: `${api}/users/${path}`,
      html_url: isBot ? `${web}/apps/${encodeURIComponent(login.replace(/\[bot\]$/, ""))}` : `${web}/${path}`,
      followers_url: `${api}/users/${path}/followers`,
      following_url: `${api}/users/${path}/following{/other_user}`,
      gists_url: `${api}/users/${path}/gists{/gist_id}`,
      starred_url: `${api}/users/${path}/starred{/owner}{/repo}`,
      subscriptions_url: `${api}/users/${path}/subscriptions`,
      organizations_url: `${api}/users/${path}/orgs`,
      repos_url: `${api}/users/${path}/repos`,
      events_url: `${api}/users/${path}/events{/privacy}`,
      received_events_url: `${api}/users/${path}/received_events`,
      type,
      user_view_type: "public",
      site_admin: false,
    };
  }

  function botLogin(app: Pick<AppInfo, "slug">): string {
    return `${app.slug}[bot]`;
  }

  function botUser(app: Pick<AppInfo, "slug">): JsonObject {
    return user(botLogin(app), "Bot");
  }

  function repoApiUrl(repo: Pick<RepoRecord, "full_name">): string {
    return `${api}/repos/${repo.full_name}`;
  }

  function repoHtmlUrl(repo: Pick<RepoRecord, "full_name">): string {
    return `${web}/${repo.full_name}`;
  }

  function repository(repo: RepoRecord, options: RepositoryShapeOptions = {}): JsonObject {
    const a = repoApiUrl(repo);
    const host = new URL(web).host;
    const out: JsonObject = {
      id: repo.id,
      node_id: repo.node_id,
      name: repo.name,
      full_name: repo.full_name,
      private: repo.private,
      owner: user(repo.owner, repo.ownerType, repo.ownerId),
      html_url: repoHtmlUrl(repo),
      description: repo.description,
      fork: false,
      url: a,
      forks_url: `${a}/forks`,
      keys_url: `${a}/keys{/key_id}`,
      collaborators_url: `${a}/collaborators{/collaborator}`,
      teams_url: `${a}/teams`,
      hooks_url: `${a}/hooks`,
      issue_events_url: `${a}/issues/events{/number}`,
      events_url: `${a}/events`,
      assignees_url: `${a}/assignees{/user}`,
      branches_url: `${a}/branches{/branch}`,
      tags_url: `${a}/tags`,
      blobs_url: `${a}/git/blobs{/sha}`,
      git_tags_url: `${a}/git/tags{/sha}`,
      git_refs_url: `${a}/git/refs{/sha}`,
      trees_url: `${a}/git/trees{/sha}`,
      statuses_url: `${a}/statuses/{sha}`,
      languages_url: `${a}/languages`,
      stargazers_url: `${a}/stargazers`,
      contributors_url: `${a}/contributors`,
      subscribers_url: `${a}/subscribers`,
      subscription_url: `${a}/subscription`,
      commits_url: `${a}/commits{/sha}`,
      git_commits_url: `${a}/git/commits{/sha}`,
      comments_url: `${a}/comments{/number}`,
      issue_comment_url: `${a}/issues/comments{/number}`,
      contents_url: `${a}/contents/{+path}`,
      compare_url: `${a}/compare/{base}...{head}`,
      merges_url: `${a}/merges`,
      archive_url: `${a}/{archive_format}{/ref}`,
      downloads_url: `${a}/downloads`,
      issues_url: `${a}/issues{/number}`,
      pulls_url: `${a}/pulls{/number}`,
      milestones_url: `${a}/milestones{/number}`,
      notifications_url: `${a}/notifications{?since,all,participating}`,
      labels_url: `${a}/labels{/name}`,
      releases_url: `${a}/releases{/id}`,
      deployments_url: `${a}/deployments`,
      created_at: repo.created_at,
      updated_at: options.updated_at ?? repo.created_at,
      pushed_at: options.pushed_at ?? null,
      git_url: `git://${host}/${repo.full_name}.git`,
      ssh_url: `git@${host.replace(/:\d+$/, "")}:${repo.full_name}.git`,
      clone_url: repo.clone_url,
      svn_url: repoHtmlUrl(repo),
      homepage: null,
      size: 0,
      stargazers_count: 0,
      watchers_count: 0,
      language: null,
      has_issues: true,
      has_projects: true,
      has_downloads: true,
      has_wiki: true,
      has_pages: false,
      has_discussions: false,
      forks_count: 0,
      mirror_url: null,
      archived: false,
      disabled: false,
      open_issues_count: 0,
      license: null,
      allow_forking: true,
      is_template: false,
      web_commit_signoff_required: false,
      topics: [],
      visibility: repo.private ? "private" : "public",
      forks: 0,
      open_issues: 0,
      watchers: 0,
      default_branch: repo.default_branch,
    };
    if (options.permissions) out.permissions = options.permissions;
    return out;
  }

  function fullRepository(repo: RepoRecord, options: RepositoryShapeOptions = {}): JsonObject {
    const out: JsonObject = {
      ...repository(repo, options),
      allow_squash_merge: true,
      allow_merge_commit: true,
      allow_rebase_merge: true,
      allow_auto_merge: false,
      delete_branch_on_merge: false,
      allow_update_branch: false,
      use_squash_pr_title_as_default: false,
      squash_merge_commit_message: "COMMIT_MESSAGES",
      squash_merge_commit_title: "COMMIT_OR_PR_TITLE",
      merge_commit_message: "PR_TITLE",
      merge_commit_title: "MERGE_MESSAGE",
      custom_properties: {},
      network_count: 0,
      subscribers_count: 0,
    };
    if (repo.ownerType === "Organization") out.organization = user(repo.owner, "Organization", repo.ownerId);
    return out;
  }

  function integration(app: AppInfo, installationsCount?: number): JsonObject {
    const out: JsonObject = {
      id: app.id,
      slug: app.slug,
      node_id: nodeId("App", app.id),
      client_id: `Iv1.${app.id.toString(16).padStart(16, "0")}`,
      owner: user(app.ownerLogin, app.ownerType),
      name: app.name,
      description: `${app.name} (GitHub emulator)`,
      external_url: app.externalUrl,
      html_url: `${web}/apps/${app.slug}`,
      created_at: app.created_at,
      updated_at: app.created_at,
      permissions: { ...app.permissions },
      events: [...app.events],
    };
    if (installationsCount !== undefined) out.installations_count = installationsCount;
    return out;
  }

  function installation(app: AppInfo, inst: InstallationShapeInput): JsonObject {
    const accountId = userIdFor(inst.account);
    return {
      id: inst.id,
      account: user(inst.account, inst.accountType, accountId),
      repository_selection: inst.repositorySelection,
      access_tokens_url: `${api}/app/installations/${inst.id}/access_tokens`,
      repositories_url: `${api}/installation/repositories`,
      html_url:
        inst.accountType === "Organization"
          ? `${web}/organizations/${inst.account}/settings/installations/${inst.id}`
          : `${web}/settings/installations/${inst.id}`,
      app_id: app.id,
      app_slug: app.slug,
      client_id: `Iv1.${app.id.toString(16).padStart(16, "0")}`,
      target_id: accountId,
      target_type: inst.accountType,
      permissions: { ...app.permissions },
      events: [...app.events],
      created_at: inst.created_at,
      updated_at: inst.created_at,
      single_file_name: null,
      has_multiple_single_files: false,
      single_file_paths: [],
      suspended_by: null,
      suspended_at: null,
    };
  }

  function reactionRollup(url: string, contents: readonly string[]): JsonObject {
    const count = (c: string) => contents.filter((x) => x === c).length;
    return {
      url,
      total_count: contents.length,
      "+1": count("+1"),
      "-1": count("-1"),
      laugh: count("laugh"),
      hooray: count("hooray"),
      confused: count("confused"),
      heart: count("heart"),
      rocket: count("rocket"),
      eyes: count("eyes"),
    };
  }

  return {
    apiUrl: api,
    webUrl: web,
    nodeId,
    user,
    botLogin,
    botUser,
    repoApiUrl,
    repoHtmlUrl,
    repository,
    fullRepository,
    integration,
    installation,
    reactionRollup,
  };
}

export type GitHubShapes = ReturnType<typeof createGitHubShapes>;
