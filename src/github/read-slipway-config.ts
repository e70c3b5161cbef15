// Owns reading a commit's configuration file at an exact commit through the contents API:
// slipway.yml, or appwrite.json when the commit has no slipway.yml. A file over the size
// limit is not decoded: its size alone is returned, for the same problem the parser
// reports (GitHub leaves the content out above 1 MB anyway).
import type { Octokit } from "@octokit/rest";
import { maxConfigBytes } from "../config/parse-slipway-config.js";
import { repositoryConfigFileNames, type RepositoryConfigFileName } from "../config/parse-repository-config.js";

export type ConfigFile = { fileName: RepositoryConfigFileName; text: string } | { fileName: RepositoryConfigFileName; tooLarge: number };

/** The first configuration file the commit has, or null when it has neither. */
export async function readSlipwayConfig(octokit: Octokit, owner: string, repo: string, sha: string): Promise<ConfigFile | null> {
  for (const fileName of repositoryConfigFileNames) {
    try {
      const response = await octokit.rest.repos.getContent({ owner, repo, path: fileName, ref: sha });
      const data = response.data;
      if (Array.isArray(data) || data.type !== "file" || !("content" in data)) continue;
      if (data.size > maxConfigBytes) return { fileName, tooLarge: data.size };
      return { fileName, text: Buffer.from(data.content, "base64").toString("utf8") };
    } catch (error) {
      if ((error as { status?: number }).status === 404) continue;
      throw error;
    }
  }
  return null;
}
