// Owns reading one execution's log files out of its runtime container through the Docker
// API (getArchive, so it works against a remote engine): /mnt/logs/<id>_logs.log and
// /mnt/logs/<id>_errors.log, as the open-runtimes contract writes them. Each is capped.
import type Docker from "dockerode";
import type { Readable } from "node:stream";
import tar from "tar-stream";

export const maxLogBytes = 64 * 1024;

export function capText(text: string, limit: number): string {
  if (Buffer.byteLength(text) <= limit) return text;
  const notice = `\n[slipway] cut to the first ${Math.round(limit / 1024)} KB`;
  return Buffer.from(text).subarray(0, limit - notice.length).toString("utf8").replace(/\uFFFD$/, "") + notice;
}

async function readFileFromContainer(container: Docker.Container, path: string, limit: number): Promise<string> {
  let archive: Readable;
  try {
    archive = (await container.getArchive({ path })) as unknown as Readable;
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return "";
    throw error;
  }
  const extract = tar.extract();
  let text = "";
  const done = new Promise<void>((resolve, reject) => {
    extract.on("entry", (_header, stream, next) => {
      const chunks: Buffer[] = [];
      let size = 0;
      stream.on("data", (data: unknown) => {
        const chunk = data as Buffer;
        if (size < limit + 1024) chunks.push(chunk);
        size += chunk.length;
      });
      stream.on("end", () => {
        text += Buffer.concat(chunks).toString("utf8");
        next();
      });
      stream.resume();
    });
    extract.on("finish", resolve);
    extract.on("error", reject);
  });
  archive.pipe(extract);
  await done;
  return capText(text, limit);
}

export async function readExecutionLogs(docker: Docker, containerId: string, logId: string): Promise<{ logs: string; errors: string }> {
  if (!/^[A-Za-z0-9_-]{1,128}$/.test(logId)) return { logs: "", errors: "" };
  const container = docker.getContainer(containerId);
  const [logs, errors] = await Promise.all([
    readFileFromContainer(container, `/mnt/logs/${logId}_logs.log`, maxLogBytes),
    readFileFromContainer(container, `/mnt/logs/${logId}_errors.log`, maxLogBytes),
  ]);
  return { logs, errors };
}

/** Whether the container holds the execution's log file; true when Docker cannot say (it may have run). */
export async function logFileExists(docker: Docker, containerId: string, logId: string): Promise<boolean> {
  if (!/^[A-Za-z0-9_-]{1,128}$/.test(logId)) return true;
  try {
    await docker.getContainer(containerId).infoArchive({ path: `/mnt/logs/${logId}_logs.log` });
    return true;
  } catch (error) {
    return (error as { statusCode?: number }).statusCode !== 404;
  }
}
