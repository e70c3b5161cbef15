// Owns the choice of artifact store from the settings (SLIPWAY_ARTIFACT_STORE), so every
// role (the app's uploads, the worker's builds, the gateway's starts, retention) uses the same one.
import type { BaseConfig } from "../config/load-config.js";
import { createArtifactCache } from "./artifact-cache.js";
import type { ArtifactStore } from "./artifact-store.js";
import { createLocalArtifactStore } from "./local-artifact-store.js";
import { createS3ArtifactStore } from "./s3-artifact-store.js";

export function createArtifactStore(config: BaseConfig): ArtifactStore {
  if (config.SLIPWAY_ARTIFACT_STORE === "local") return createLocalArtifactStore(config.SLIPWAY_ARTIFACT_DIR);
  const accessKeyId = config.SLIPWAY_S3_ACCESS_KEY_ID;
  const secretAccessKey = config.SLIPWAY_S3_SECRET_ACCESS_KEY;
  return createS3ArtifactStore(
    {
      endpoint: config.SLIPWAY_S3_ENDPOINT,
      bucket: config.SLIPWAY_S3_BUCKET!,
      prefix: config.SLIPWAY_S3_PREFIX,
      region: config.SLIPWAY_S3_REGION,
      credentials: accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey } : undefined,
      createBucket: config.SLIPWAY_S3_CREATE_BUCKET === "true",
      forcePathStyle: config.SLIPWAY_S3_FORCE_PATH_STYLE === "auto" ? config.SLIPWAY_S3_ENDPOINT !== undefined : config.SLIPWAY_S3_FORCE_PATH_STYLE === "true",
    },
    createArtifactCache(config.SLIPWAY_ARTIFACT_CACHE_DIR, config.SLIPWAY_ARTIFACT_CACHE_MB * 1024 * 1024),
  );
}
