// Owns the archive-upload path, `slipway deploy <dir>`: a gzip-compressed tar of a local
// directory becomes a new version of an existing function with no GitHub involved (no
// clone, no check run, no GitHub Deployment). The archive is checked and kept in the
// artifact store by digest, so the worker builds it and a redeploy can build it again.
// Like `vercel deploy`, an upload is a preview by default, served only at its immutable
// URL; with `production=true` it goes live the way a push to the function's branch does,
// and so it respects a pin.
import { randomUUID } from "node:crypto";
import { z } from "zod";
import type { AppDependencies } from "../app/start-app.js";
import { ArtifactTooLargeError } from "../artifacts/artifact-store.js";
import { deploymentUrl, functionUrl } from "../gateway/route-key.js";
import { configFileName, parseSlipwayConfig } from "../config/parse-slipway-config.js";
import { selectFunctionsForPush } from "../github/select-functions-for-push.js";
import { SourceArchiveError, unpackSourceArchive } from "../pipeline/source-archive.js";
import { enqueueBuild } from "../queue/build-queue.js";
import { createQueuedDeployment } from "../store/deployments.js";
import { ApiError, type ApiRouter } from "./create-api-router.js";

const archiveTypes = ["application/gzip", "application/x-gzip", "application/x-tar+gzip", "application/octet-stream"];
const idempotencyKeyPattern = /^[A-Za-z0-9_-]{8,64}$/;

export function registerUploadRoutes(api: ApiRouter, deps: AppDependencies): void {
  const { db, config } = deps;

  api.route({
    method: "POST",
    path: "/v1/functions/:functionId/deployments",
    summary:
      "Deploy an uploaded directory (a .tar.gz) as a new version; a preview unless production=true. " +
      "An archive with slipway.yml at its top is a repository (the function's root is used); otherwise it is the function's own directory.",
    tags: ["deployments"],
    auth: ["server"],
    rawBody: { contentTypes: ["application/gzip"], description: "The directory as a gzip-compressed tar archive" },
    query: z.object({
      production: z.enum(["true", "false"]).default("false"),
      noCache: z.enum(["true", "false"]).default("false"),
    }),
    handler: async ({ params, query, req, principal }) => {
      if (!z.uuid().safeParse(params.functionId).success) throw new ApiError(400, "functionId must be a UUID; `GET /v1/functions` lists them");
      const contentType = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
      if (!archiveTypes.includes(contentType)) {
        throw new ApiError(415, `send the directory as a gzip-compressed tar with content-type application/gzip (got '${contentType || "none"}')`);
      }
      const idempotencyKey = req.headers["idempotency-key"];
      if (idempotencyKey !== undefined && (typeof idempotencyKey !== "string" || !idempotencyKeyPattern.test(idempotencyKey))) {
        throw new ApiError(400, "Idempotency-Key must be 8 to 64 letters, digits, '-' or '_'");
      }
      const found = await db.query<{ name: string; slug: string; runtime: string; entrypoint: string; commands: string; root: string; branch: string }>(
        "select name, slug, runtime, entrypoint, commands, root, branch from functions where id = $1",
        [params.functionId],
      );
      const fn = found.rows[0];
      if (!fn) throw new ApiError(404, `there is no function ${params.functionId}; \`GET /v1/functions\` lists them`);

      const maxBytes = config.SLIPWAY_MAX_UPLOAD_MB * 1024 * 1024;
      const stored = await deps.artifacts.put(req, maxBytes).catch((error: unknown) => {
        if (error instanceof ArtifactTooLargeError) throw new ApiError(413, `the upload is larger than ${config.SLIPWAY_MAX_UPLOAD_MB} MB (SLIPWAY_MAX_UPLOAD_MB)`);
        throw error;
      });
      // A refused upload leaves nothing behind, unless the same bytes are in use elsewhere.
      const refuse = async (message: string): Promise<never> => {
        const used = await db.query("select 1 from deployments where artifact_digest = $1 or source_digest = $1 limit 1", [stored.digest]);
        if (used.rowCount === 0) await deps.artifacts.remove(stored.digest).catch(() => {});
        throw new ApiError(400, message);
      };
      const summary = await unpackSourceArchive(deps.artifacts.open(stored.digest), null, {
        maxBytes: config.SLIPWAY_MAX_UNPACKED_MB * 1024 * 1024,
        maxEntries: 50_000,
      }).catch((error: unknown) => {
        if (error instanceof SourceArchiveError) return refuse(error.message);
        throw error;
      });
      if (summary.files === 0) await refuse("the upload holds no files");
      // A repository upload builds the function as its own slipway.yml says, as a push would.
      let settings = { runtime: fn.runtime, entrypoint: fn.entrypoint, commands: fn.commands, root: "." };
      if (summary.config !== null) {
        const parsed = parseSlipwayConfig(summary.config, [...deps.runtimes.keys()]);
        if (!parsed.ok) {
          const problems = parsed.problems.map((p) => `line ${p.line}, column ${p.column}: ${p.message}`).join("; ");
          await refuse(`${configFileName} in the upload is not valid: ${problems}`);
        }
        const entry = parsed.ok ? selectFunctionsForPush(parsed.config, deps.runtimes, { branch: null, defaultBranch: fn.branch }).find((f) => f.id === fn.name) : undefined;
        if (!entry) return refuse(`${configFileName} in the upload has no function '${fn.name}'; upload the function's own directory, or a repository that declares it`);
        settings = { runtime: entry.runtime, entrypoint: entry.entrypoint, commands: entry.commands, root: entry.root };
      }
      const production = query.production === "true";
      const deployment = await createQueuedDeployment(db, {
        functionId: params.functionId!,
        commitSha: "",
        // The function's branch makes it a production build; anything else serves only at /d/<id>/.
        ref: production ? `refs/heads/${fn.branch}` : "upload",
        trigger: "upload",
        deliveryId: `upload-${idempotencyKey ?? randomUUID()}`,
        ...settings,
        sourceDigest: stored.digest,
        createdBy: principal!.name,
        createdVia: (req.headers["user-agent"] ?? "").startsWith("slipway-cli/") ? "cli" : "api",
      });
      if (deployment.created) {
        if (query.noCache === "true") await db.query("update deployments set use_cache = false where id = $1", [deployment.id]);
        await enqueueBuild(deps.queue, deployment.id);
      }
      return {
        deploymentId: deployment.id,
        functionId: params.functionId,
        functionName: fn.name,
        version: deployment.version,
        status: deployment.status,
        production,
        files: summary.files,
        bytes: summary.bytes,
        url: deploymentUrl(config.publicUrl, deployment.id),
        productionUrl: functionUrl(config.publicUrl, fn.slug),
      };
    },
  });
}
