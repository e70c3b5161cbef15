// Owns the S3-compatible artifact store (SLIPWAY_ARTIFACT_STORE=s3): AWS S3, MinIO, Ceph,
// Cloudflare R2, versitygw, … shared by every node, so a build made on one machine starts on
// any other. A put streams into a temporary key (a multipart upload once it passes one part)
// while the digest is computed, then copies it to its final key <prefix>sha256/<2>/<hex>.tar.gz
// and deletes the temporary one: S3 makes an object visible only once it is complete, so a
// final key is whole or absent, and a copy of the same content over it changes nothing.
// Reads go through this node's read-through cache (artifact-cache.ts).
import { randomUUID } from "node:crypto";
import { pipeline, PassThrough, type Readable } from "node:stream";
import {
  AbortMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import type { ArtifactCache } from "./artifact-cache.js";
import { ArtifactStoreError, ArtifactTooLargeError, digestHex, measureArtifact, type ArtifactStore } from "./artifact-store.js";

export type S3ArtifactStoreSettings = {
  /** Unset: AWS S3 itself, at the region's endpoint. */
  endpoint: string | undefined;
  bucket: string;
  /** "" or a path ending in "/". */
  prefix: string;
  region: string;
  /** Unset: the AWS SDK's default chain (AWS_ACCESS_KEY_ID, a profile, an instance role). */
  credentials: { accessKeyId: string; secretAccessKey: string } | undefined;
  /** bucket in the path (http://host/bucket/key), as most self-hosted servers need. */
  forcePathStyle: boolean;
  /** check() creates the bucket when it is missing. */
  createBucket?: boolean;
  /** Bytes per part of a multipart upload (at least 5 MiB, S3's minimum). */
  partSize?: number;
};

const megabyte = 1024 * 1024;

export function createS3ArtifactStore(settings: S3ArtifactStoreSettings, cache: ArtifactCache): ArtifactStore {
  const { bucket, prefix } = settings;
  // The SDK warns on Node 20 that its releases after January 2027 need Node 22; the locked
  // version runs on Node 20, and the warning would break start-up errors' one line.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  const client = new S3Client({
    endpoint: settings.endpoint,
    region: settings.region,
    forcePathStyle: settings.forcePathStyle,
    credentials: settings.credentials,
    // Checksums only where S3 requires them: several S3-compatible servers refuse the newer ones.
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    requestHandler: { connectionTimeout: 10_000 },
  });
  const location = `s3://${bucket}/${prefix}`;
  const keyOf = (digest: string) => {
    const hex = digestHex(digest);
    return `${prefix}sha256/${hex.slice(0, 2)}/${hex}.tar.gz`;
  };
  const temporaryPrefix = `${prefix}tmp/`;
  const secrets = settings.credentials ? [settings.credentials.secretAccessKey, settings.credentials.accessKeyId] : [];

  /** An S3 failure as a message that says what to fix, with no credential and no SDK object attached. */
  const describe = (operation: string, key: string, error: unknown): ArtifactStoreError => {
    const failure = error as { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number } };
    const name = failure.name ?? "Error";
    const status = failure.$metadata?.httpStatusCode;
    const where = `${operation} s3://${bucket}/${key}`;
    let message: string;
    let code: ArtifactStoreError["code"] = "failed";
    if (name === "NoSuchBucket" || (operation === "HeadBucket" && status === 404)) {
      message = `the bucket ${bucket} does not exist at ${settings.endpoint ?? "AWS S3"}; create it or fix SLIPWAY_S3_BUCKET`;
      code = "refused";
    } else if (name === "NoSuchKey" || name === "NotFound" || status === 404) {
      message = "there is no such artifact in the store";
      code = "missing";
    } else if (["InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "Forbidden", "CredentialsProviderError"].includes(name) || status === 403) {
      message = `the store refused the credentials (${name === "Unknown" ? `HTTP ${status}` : name}); check SLIPWAY_S3_ACCESS_KEY_ID, SLIPWAY_S3_SECRET_ACCESS_KEY and the key's permissions on the bucket`;
      code = "refused";
    } else if (["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "ECONNRESET", "ETIMEDOUT", "EHOSTUNREACH"].includes(failure.code ?? "") || name === "TimeoutError") {
      message = `cannot reach ${settings.endpoint ?? "AWS S3"} (${failure.code ?? name}); check SLIPWAY_S3_ENDPOINT and that the server is up`;
      code = "unreachable";
    } else {
      message = `${name}${status ? ` (HTTP ${status})` : ""}: ${failure.message ?? "no message"}`;
    }
    // A server may echo what it was sent; no credential leaves this module.
    for (const secret of secrets) if (secret) message = message.replaceAll(secret, "[redacted]");
    return new ArtifactStoreError(`${where} failed: ${message}`, code);
  };

  const send = async <T>(operation: string, key: string, run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (error) {
      if (error instanceof ArtifactStoreError || error instanceof ArtifactTooLargeError) throw error;
      throw describe(operation, key, error);
    }
  };

  const lastModified = async (digest: string): Promise<Date | null> => {
    const key = keyOf(digest);
    try {
      return (await send("HeadObject", key, () => client.send(new HeadObjectCommand({ Bucket: bucket, Key: key })))).LastModified ?? new Date(0);
    } catch (error) {
      if (error instanceof ArtifactStoreError && error.code === "missing") return null;
      throw error;
    }
  };

  const download = async (digest: string) => {
    const key = keyOf(digest);
    const object = await send("GetObject", key, () => client.send(new GetObjectCommand({ Bucket: bucket, Key: key })));
    return { body: object.Body as Readable, size: object.ContentLength };
  };

  return {
    location,
    async put(content, maxBytes) {
      const temporaryKey = `${temporaryPrefix}${randomUUID()}`;
      const measure = measureArtifact(maxBytes);
      let streamFailure: Error | undefined;
      // The content's failure (a client that went away, a limit) ends the upload, which then aborts its parts.
      const body = pipeline(content, measure.stream, new PassThrough(), (error) => {
        if (error) streamFailure = error;
      });
      const upload = new Upload({
        client,
        params: { Bucket: bucket, Key: temporaryKey, Body: body, ContentType: "application/gzip" },
        partSize: Math.max(settings.partSize ?? 8 * megabyte, 5 * megabyte),
        queueSize: 2,
        leavePartsOnError: false,
      });
      try {
        await send("Upload", temporaryKey, async () => {
          try {
            await upload.done();
          } catch (error) {
            throw streamFailure ?? error;
          }
          // An upload that read a stream which failed quietly must not be committed.
          if (streamFailure) throw streamFailure;
        });
        const stored = measure.result();
        const finalKey = keyOf(stored.digest);
        await send("CopyObject", finalKey, () =>
          client.send(new CopyObjectCommand({ Bucket: bucket, Key: finalKey, CopySource: `${bucket}/${temporaryKey}`, ContentType: "application/gzip", MetadataDirective: "REPLACE" })),
        );
        return stored;
      } catch (error) {
        // The upload stopped reading; the request it reads from must not hang open.
        body.destroy();
        throw error;
      } finally {
        await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: temporaryKey })).catch(() => {});
      }
    },
    open(digest) {
      keyOf(digest);
      const out = new PassThrough();
      cache.read(digest, () => download(digest)).then(
        (source) => pipeline(source, out, () => {}),
        (error: Error) => out.destroy(error instanceof ArtifactStoreError && error.code === "missing" ? new ArtifactStoreError(`artifact ${digest} is not in ${location}`, "missing") : error),
      );
      return out;
    },
    async has(digest) {
      return (await lastModified(digest)) !== null;
    },
    async remove(digest) {
      const key = keyOf(digest);
      await send("DeleteObject", key, () => client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })));
      await cache.drop(digest);
    },
    async age(digest) {
      const modified = await lastModified(digest);
      return modified === null ? null : Date.now() - modified.getTime();
    },
    async check() {
      try {
        await send("HeadBucket", prefix, () => client.send(new HeadBucketCommand({ Bucket: bucket })));
      } catch (error) {
        if (!(settings.createBucket && error instanceof ArtifactStoreError && /does not exist/.test(error.message))) throw error;
        await send("CreateBucket", "", () => client.send(new CreateBucketCommand({ Bucket: bucket })));
      }
    },
    async sweepTemporary(olderThanMs) {
      const cutoff = Date.now() - olderThanMs;
      let removed = 0;
      let token: string | undefined;
      do {
        const page = await send("ListObjectsV2", temporaryPrefix, () =>
          client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: temporaryPrefix, ContinuationToken: token })),
        );
        for (const object of page.Contents ?? []) {
          if (!object.Key || (object.LastModified?.getTime() ?? 0) > cutoff) continue;
          await send("DeleteObject", object.Key, () => client.send(new DeleteObjectCommand({ Bucket: bucket, Key: object.Key })));
          removed++;
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      // Parts of multipart uploads a killed process never completed nor aborted.
      const uploads = await send("ListMultipartUploads", temporaryPrefix, () => client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: temporaryPrefix })));
      for (const upload of uploads.Uploads ?? []) {
        if (!upload.Key || !upload.UploadId || (upload.Initiated?.getTime() ?? 0) > cutoff) continue;
        await send("AbortMultipartUpload", upload.Key, () => client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: upload.Key, UploadId: upload.UploadId })));
        removed++;
      }
      return removed;
    },
  };
}
