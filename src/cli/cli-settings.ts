// Owns where the CLI finds the API and its token: SLIPWAY_API_URL and SLIPWAY_TOKEN when
// set, else what `slipway login` saved in $XDG_CONFIG_HOME/slipway/config.json (mode
// 0600, in a 0700 folder), else the local default URL. Each value remembers where it came
// from, so an error can name the setting to fix.
import { chmod, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { z } from "zod";
import { CliError } from "./cli-error.js";

export const defaultApiUrl = "http://127.0.0.1:3000";

export type CliSettings = {
  apiUrl: string;
  /** How to name the URL's source in a message: `SLIPWAY_API_URL=…` or the config file. */
  apiUrlSource: string;
  token: string | undefined;
  tokenSource: string;
  configPath: string;
};

const savedSchema = z.object({ apiUrl: z.string().optional(), token: z.string().optional() });
type Saved = z.infer<typeof savedSchema>;

export function cliConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME.startsWith("/") ? env.XDG_CONFIG_HOME : join(env.HOME ?? homedir(), ".config");
  return join(base, "slipway", "config.json");
}

export async function readSavedLogin(path: string): Promise<Saved> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    return {};
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new CliError(`${path} is not valid JSON; fix it or remove it and run \`slipway login\` again`);
  }
  const saved = savedSchema.safeParse(parsed);
  if (!saved.success) throw new CliError(`${path} is not a Slipway login (expected { "apiUrl", "token" }); remove it and run \`slipway login\` again`);
  return saved.data;
}

export async function saveLogin(path: string, login: Saved): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFile(path, `${JSON.stringify(login, null, 2)}\n`, { mode: 0o600 });
  // writeFile's mode applies only to a new file; an older one may have been wider.
  await chmod(path, 0o600);
}

export async function removeLogin(path: string): Promise<boolean> {
  const existed = (await readFile(path).catch(() => null)) !== null;
  await rm(path, { force: true });
  return existed;
}

export async function loadCliSettings(env: NodeJS.ProcessEnv = process.env): Promise<CliSettings> {
  const configPath = cliConfigPath(env);
  const saved = await readSavedLogin(configPath);
  const fromEnv = env.SLIPWAY_API_URL?.trim();
  const apiUrl = (fromEnv || saved.apiUrl || defaultApiUrl).replace(/\/+$/, "");
  const apiUrlSource = fromEnv
    ? `SLIPWAY_API_URL=${apiUrl}`
    : saved.apiUrl
      ? `${apiUrl} (saved by \`slipway login\` in ${configPath})`
      : `${apiUrl} (the default; set SLIPWAY_API_URL or run \`slipway login --api-url <url>\`)`;
  const envToken = env.SLIPWAY_TOKEN?.trim();
  const token = envToken || saved.token || undefined;
  const tokenSource = envToken ? "SLIPWAY_TOKEN" : saved.token ? `the token saved by \`slipway login\` in ${configPath}` : "no token";
  return { apiUrl, apiUrlSource, token, tokenSource, configPath };
}
