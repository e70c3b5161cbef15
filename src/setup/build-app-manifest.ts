// Owns the GitHub App manifest Slipway registers itself with: app.yml (name, permissions,
// events) plus the addresses only the running Slipway knows: where GitHub sends webhooks,
// where it sends the browser back with the manifest code, and the app's home page.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";

export type AppManifest = {
  name: string;
  url: string;
  description?: string;
  hook_attributes: { url: string; active: boolean };
  redirect_url: string;
  /** Where GitHub sends a user back after signing in to the console (OAuth web flow). */
  callback_urls: string[];
  setup_url: string;
  public: boolean;
  default_permissions: Record<string, string>;
  default_events: string[];
};

export const appYmlPath = fileURLToPath(new URL("../../app.yml", import.meta.url));

export type ManifestAddresses = {
  /** Where people reach this Slipway (SLIPWAY_APP_URL). */
  appUrl: string;
  /** A webhook relay channel (WEBHOOK_PROXY_URL); GitHub posts there instead of to appUrl. */
  webhookProxyUrl?: string | undefined;
  /** Overrides app.yml's name, since an app's name is unique on GitHub. */
  name?: string | undefined;
};

export function buildAppManifest(addresses: ManifestAddresses, appYml: string = readFileSync(appYmlPath, "utf8")): AppManifest {
  const file = (parse(appYml) ?? {}) as Partial<AppManifest> & { hook_attributes?: { active?: boolean } };
  return {
    name: addresses.name?.trim() || file.name || "Slipway",
    url: addresses.appUrl,
    ...(file.description ? { description: file.description } : {}),
    hook_attributes: { url: addresses.webhookProxyUrl || `${addresses.appUrl}/api/github/webhooks`, active: file.hook_attributes?.active ?? true },
    redirect_url: `${addresses.appUrl}/setup/callback`,
    callback_urls: [`${addresses.appUrl}/auth/github/callback`],
    // After an installation GitHub sends the browser to the dashboard.
    setup_url: `${addresses.appUrl}/dashboard`,
    public: file.public ?? false,
    default_permissions: { ...(file.default_permissions ?? {}) },
    default_events: [...(file.default_events ?? [])],
  };
}
