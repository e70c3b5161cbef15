// Owns reading slipway.yml at an exact commit through the contents API. A file over the
// size limit is not decoded: its size alone is returned, for the same problem the parser
// reports (GitHub leaves the content out above 1 MB anyway).
import type { Octokit } from "@octokit/rest";
import { configFileName, maxConfigBytes } from "../config/parse-slipway-config.js";

/** The file's text, its size when it is too large to read, or null when the commit has no slipway.yml. */
export async function readSlipwayConfig(octokit: Octokit, owner: string, repo: string, sha: string): Promise<{ text: string } | { tooLarge: number } | null> {
  try {
    const response = await octokit.rest.repos.getContent({ owner, repo, path: configFileName, ref: sha });
    const data = response.data;
    if (Array.isArray(data) || data.type !== "file" || !("content" in data)) return null;
    if (data.size > maxConfigBytes) return { tooLarge: data.size };
    return { text: Buffer.from(data.content, "base64").toString("utf8") };
  } catch (error) {
    if ((error as { status?: number }).status === 404) return null;
    throw error;
  }
}
