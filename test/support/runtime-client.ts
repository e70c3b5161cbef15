// Talking to a runtime container started by runtime-harness.ts the way the
// executor does: loopback HTTP with the open-runtimes headers, and the
// execution's log files read back out of the container.

import assert from "node:assert/strict";
import { gunzipSync } from "node:zlib";
import tar from "tar-stream";
import { request, type Dispatcher } from "undici";
import type { RunningFunction } from "./runtime-harness.js";

export const MB = 1024 * 1024;

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  text: string;
}

export interface CallOptions {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Send the runtime's secret (default true). */
  authenticate?: boolean;
}

/** One request to a running function; content-type defaults to text/plain. */
export async function call(fn: RunningFunction, options: CallOptions = {}): Promise<Reply> {
  const headers: Record<string, string> = { "content-type": "text/plain", ...(options.headers ?? {}) };
  if (options.authenticate !== false) headers["x-open-runtimes-secret"] = fn.secret;
  const response = await request(`${fn.url}${options.path ?? "/"}`, {
    method: (options.method ?? "POST") as Dispatcher.HttpMethod,
    headers,
    body: options.body,
    headersTimeout: 60_000,
    bodyTimeout: 60_000,
  });
  const body = Buffer.from(await response.body.arrayBuffer());
  return {
    status: response.statusCode,
    headers: response.headers as Record<string, string | string[] | undefined>,
    body,
    text: body.toString("utf8"),
  };
}

export function header(reply: Reply, name: string): string | undefined {
  const value = reply.headers[name];
  return Array.isArray(value) ? value.join(", ") : value;
}

/** The execution's log id from the response (asserted present). */
export function logId(reply: Reply): string {
  const id = header(reply, "x-open-runtimes-log-id");
  assert.ok(id, "response carries x-open-runtimes-log-id");
  return id;
}

export async function readLogs(fn: RunningFunction, id: string): Promise<{ logs: string; errors: string }> {
  const [logs, errors] = await Promise.all([
    fn.readFile(`/mnt/logs/${id}_logs.log`),
    fn.readFile(`/mnt/logs/${id}_errors.log`),
  ]);
  return { logs: logs?.toString("utf8") ?? "", errors: errors?.toString("utf8") ?? "" };
}

/** The names of the files in the container's /mnt/logs, sorted. */
export async function listLogFiles(fn: RunningFunction): Promise<string[]> {
  const archive = await fn.container.getArchive({ path: "/mnt/logs" });
  const names: string[] = [];
  const extract = tar.extract();
  await new Promise<void>((resolve, reject) => {
    extract.on("entry", (entry, stream, next) => {
      if (entry.type === "file") names.push(entry.name.slice(entry.name.lastIndexOf("/") + 1));
      stream.on("end", next);
      stream.resume();
    });
    extract.on("finish", resolve);
    extract.on("error", reject);
    archive.on("error", reject);
    archive.pipe(extract);
  });
  return names.sort();
}

export interface ArtifactEntry {
  type: string;
  content: Buffer;
  linkname?: string;
  mode?: number;
}

/** The entries of a gzip artifact by path (leading "./" removed; folders end in "/"). */
export async function listArtifactEntries(artifact: Buffer): Promise<Map<string, ArtifactEntry>> {
  const entries = new Map<string, ArtifactEntry>();
  const extract = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on("entry", (entryHeader, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: unknown) => chunks.push(chunk as Buffer));
      stream.on("end", () => {
        const name = entryHeader.name.replace(/^\.\//, "");
        entries.set(name, {
          type: entryHeader.type ?? "file",
          content: Buffer.concat(chunks),
          linkname: entryHeader.linkname ?? undefined,
          mode: entryHeader.mode,
        });
        next();
      });
      stream.resume();
    });
    extract.on("finish", resolve);
    extract.on("error", reject);
  });
  extract.end(gunzipSync(artifact));
  await done;
  return entries;
}

/** The regular files of a gzip artifact by path. */
export async function listArtifact(artifact: Buffer): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (const [name, entry] of await listArtifactEntries(artifact)) {
    if (entry.type === "file") files.set(name, entry.content);
  }
  return files;
}
