/** Shared record types of the GitHub emulator (types only). */

export type AccountType = "User" | "Organization";

/** A repository registered with `createRepo`. */
export interface RepoRecord {
  id: number;
  node_id: string;
  name: string;
  /** `owner/name` */
  full_name: string;
  /** Owner login. */
  owner: string;
  ownerId: number;
  ownerType: AccountType;
  private: boolean;
  /** Smart-HTTP clone URL served by the emulator (`http://127.0.0.1:PORT/owner/name.git`). */
  clone_url: string;
  html_url: string;
  /** REST URL of the repository (`<apiUrl>/repos/owner/name`). */
  url: string;
  default_branch: string;
  installationId: number;
  created_at: string;
  description: string | null;
}

export interface AppInfo {
  id: number;
  slug: string;
  name: string;
  /** Login of the account owning the app registration. */
  ownerLogin: string;
  ownerType: AccountType;
  /** Where `details_url` of check runs points when the app does not set one. */
  externalUrl: string;
  permissions: Record<string, PermissionLevel>;
  events: string[];
  created_at: string;
}

export type PermissionLevel = "read" | "write" | "admin";

export type RepositoryRole = "admin" | "maintain" | "write" | "triage" | "read" | "none";

export interface BaseUrls {
  /** REST base, e.g. `http://127.0.0.1:PORT`. */
  apiUrl: string;
  /** Base of html_url links; the emulator serves both from the same origin. */
  webUrl: string;
}

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };
