// Owns reading slipway.yml at an exact commit through the contents API.
import type { Octokit } from "@octokit/rest";
import { configFileName } from "../config/parse-slipway-config.js";

/** The file's text, or null when the commit has no slipway.yml. */
export async function readSlipwayConfig(octokit: Octokit, owner: string, repo: string, sha: string): Promise<string | null> {
  try {
    const response = await octokit.rest.repos.getContent({ owner, repo, path: configFileName, ref: sha });
    const data = response.data;
    if (Array.isArray(data) || data.type !== "file" || !("content" in data)) return null;
    return Buffer.from(data.content, "base64").toString("utf8");
  } catch (error) {
    if ((error as { status?: number }).status === 404) return null;
    throw error;
  }
}
