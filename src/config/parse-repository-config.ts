// Owns the choice of a commit's configuration file: slipway.yml when the commit has one,
// otherwise the Appwrite CLI's appwrite.json, both parsed into the same checked config.
// Pure; the callers read the file (through GitHub's API, or from a checkout).
import { appwriteConfigFileName, parseAppwriteConfig, type AppwriteIdentity, type ConfigNote } from "./parse-appwrite-config.js";
import { configFileName, parseSlipwayConfig, type ConfigProblem, type SlipwayConfig } from "./parse-slipway-config.js";

/** The files a commit's functions are read from, the first one present winning. */
export const repositoryConfigFileNames = [configFileName, appwriteConfigFileName] as const;
export type RepositoryConfigFileName = (typeof repositoryConfigFileNames)[number];

export type RepositoryConfig =
  | { ok: true; fileName: RepositoryConfigFileName; config: SlipwayConfig; notes: ConfigNote[]; appwrite: Record<string, AppwriteIdentity> }
  | { ok: false; fileName: RepositoryConfigFileName; problems: ConfigProblem[] };

/** null: an appwrite.json that lists no functions (a project file for databases or storage), which deploys nothing and is not reported. */
export function parseRepositoryConfig(file: { fileName: RepositoryConfigFileName; text: string }, runtimes: readonly string[]): RepositoryConfig | null {
  if (file.fileName === configFileName) {
    const parsed = parseSlipwayConfig(file.text, runtimes);
    return parsed.ok ? { ok: true, fileName: file.fileName, config: parsed.config, notes: [], appwrite: {} } : { ok: false, fileName: file.fileName, problems: parsed.problems };
  }
  const parsed = parseAppwriteConfig(file.text, runtimes);
  if (!parsed.ok) return { ok: false, fileName: file.fileName, problems: parsed.problems };
  if (!parsed.listsFunctions) return null;
  return { ok: true, fileName: file.fileName, config: parsed.config, notes: parsed.notes, appwrite: parsed.appwrite };
}
