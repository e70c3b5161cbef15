import { spawn, type ChildProcess } from "node:child_process";
import type { ServerResponse } from "node:http";
import { join } from "node:path";
import { runGit } from "./run-git.js";

export interface GitHttpBackendRequest {
  method: string;
  /** Directory holding `<owner>/<repo>.git`. */
  projectRoot: string;
  /** e.g. `/owner/repo.git/info/refs` */
  pathInfo: string;
  /** Raw query string without `?`. */
  queryString: string;
  contentType: string | undefined;
  /** The request body, already gunzipped. */
  body: Buffer;
  /** Value of the `Git-Protocol` request header (e.g. `version=2`). */
  gitProtocol: string | undefined;
  remoteUser: string;
  /** Registry of running children so the server can kill them on shutdown. */
  children: Set<ChildProcess>;
}

let execPathPromise: Promise<string> | null = null;

async function gitHttpBackendPath(): Promise<string> {
  execPathPromise ??= runGit(["--exec-path"]).then(({ stdout }) => join(stdout.toString("utf8").trim(), "git-http-backend"));
  return execPathPromise;
}

/**
 * Runs `git http-backend` as a CGI program and streams its response into `res`. Resolves
 * with the HTTP status that was sent.
 */
export async function serveGitHttpBackend(request: GitHttpBackendRequest, res: ServerResponse): Promise<number> {
  const backend = await gitHttpBackendPath();
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: process.env.HOME ?? "/tmp",
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_CONFIG_GLOBAL: "/dev/null",
    GIT_PROJECT_ROOT: request.projectRoot,
    GIT_HTTP_EXPORT_ALL: "1",
    GATEWAY_INTERFACE: "CGI/1.1",
    SERVER_PROTOCOL: "HTTP/1.1",
    SERVER_SOFTWARE: "slipway-github-emulator",
    REQUEST_METHOD: request.method,
    PATH_INFO: request.pathInfo,
    QUERY_STRING: request.queryString,
    REMOTE_USER: request.remoteUser,
    REMOTE_ADDR: "127.0.0.1",
    CONTENT_LENGTH: String(request.body.length),
  };
  if (request.contentType) env.CONTENT_TYPE = request.contentType;
  if (request.gitProtocol) {
    env.GIT_PROTOCOL = request.gitProtocol;
    env.HTTP_GIT_PROTOCOL = request.gitProtocol;
  }

  return new Promise<number>((resolve, reject) => {
    const child = spawn(backend, [], { env, stdio: ["pipe", "pipe", "pipe"] });
    request.children.add(child);
    let headerBuffer = Buffer.alloc(0);
    let headersDone = false;
    let status = 200;
    const stderr: Buffer[] = [];

    const finishHeaders = (raw: string) => {
      const headers: Record<string, string> = {};
      for (const line of raw.split(/\r?\n/)) {
        const colon = line.indexOf(":");
        if (colon <= 0) continue;
        const name = line.slice(0, colon).trim();
        const value = line.slice(colon + 1).trim();
        if (name.toLowerCase() === "status") status = Number.parseInt(value, 10) || 200;
        else headers[name] = value;
      }
      res.writeHead(status, headers);
      headersDone = true;
    };

    child.stdout.on("data", (chunk: Buffer) => {
      if (headersDone) {
        res.write(chunk);
        return;
      }
      headerBuffer = Buffer.concat([headerBuffer, chunk]);
      const crlf = headerBuffer.indexOf("\r\n\r\n");
      const lf = headerBuffer.indexOf("\n\n");
      const end = crlf >= 0 && (lf < 0 || crlf < lf) ? { at: crlf, len: 4 } : lf >= 0 ? { at: lf, len: 2 } : null;
      if (!end) return;
      finishHeaders(headerBuffer.subarray(0, end.at).toString("latin1"));
      const rest = headerBuffer.subarray(end.at + end.len);
      if (rest.length > 0) res.write(rest);
    });
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
    child.on("error", (error) => {
      request.children.delete(child);
      reject(error);
    });
    child.on("close", (code) => {
      request.children.delete(child);
      if (!headersDone) {
        const message = Buffer.concat(stderr).toString("utf8").trim() || `git http-backend exited with ${code}`;
        if (!res.headersSent) {
          res.writeHead(500, { "content-type": "text/plain; charset=utf-8" });
        }
        res.end(`${message}\n`);
        resolve(500);
        return;
      }
      res.end();
      resolve(status);
    });
    child.stdin.on("error", () => {
      /* the backend may stop reading early (e.g. on a protocol error) */
    });
    child.stdin.end(request.body);
  });
}
