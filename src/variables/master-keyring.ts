// Owns the master keys that encrypt variables at rest (AES-256-GCM). The current key,
// SLIPWAY_MASTER_KEY, encrypts; it and SLIPWAY_MASTER_KEY_PREVIOUS both decrypt, so a key
// can be rotated without downtime: restart with the new key as current and the old one as
// previous, run `slipway variables rotate`, then drop the previous key. Each row names its
// key by id (a hash of the key, never the key).
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";

export type MasterKeyring = { currentKeyId: string; keys: Map<string, Buffer> };

export type Sealed = { keyId: string; iv: Buffer; ciphertext: Buffer; authTag: Buffer };

/** A key is 32 bytes, written as 64 hex characters or base64; null when it is neither. */
export function decodeMasterKey(text: string): Buffer | null {
  const trimmed = text.trim();
  if (/^[0-9a-f]{64}$/i.test(trimmed)) return Buffer.from(trimmed, "hex");
  const decoded = Buffer.from(trimmed, "base64");
  return decoded.length === 32 ? decoded : null;
}

export function masterKeyId(key: Buffer): string {
  return createHash("sha256").update("slipway-master-key:").update(key).digest("hex").slice(0, 16);
}

export function createMasterKeyring(current: string | undefined, previous?: string): MasterKeyring | null {
  if (!current) return null;
  const currentKey = decodeMasterKey(current);
  if (!currentKey) throw new Error("SLIPWAY_MASTER_KEY must be 32 bytes, as 64 hex characters or base64");
  const keys = new Map([[masterKeyId(currentKey), currentKey]]);
  if (previous) {
    const previousKey = decodeMasterKey(previous);
    if (!previousKey) throw new Error("SLIPWAY_MASTER_KEY_PREVIOUS must be 32 bytes, as 64 hex characters or base64");
    keys.set(masterKeyId(previousKey), previousKey);
  }
  return { currentKeyId: masterKeyId(currentKey), keys };
}

export function sealValue(keyring: MasterKeyring, plaintext: string, associatedData: string): Sealed {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", keyring.keys.get(keyring.currentKeyId)!, iv);
  cipher.setAAD(Buffer.from(associatedData, "utf8"));
  const ciphertext = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
  return { keyId: keyring.currentKeyId, iv, ciphertext, authTag: cipher.getAuthTag() };
}

export function openValue(keyring: MasterKeyring, sealed: Sealed, associatedData: string): string {
  const key = keyring.keys.get(sealed.keyId);
  if (!key) {
    throw new Error(
      `a variable is encrypted under master key ${sealed.keyId}, which is neither SLIPWAY_MASTER_KEY nor SLIPWAY_MASTER_KEY_PREVIOUS; set the key it was encrypted with as SLIPWAY_MASTER_KEY_PREVIOUS`,
    );
  }
  const decipher = createDecipheriv("aes-256-gcm", key, sealed.iv);
  decipher.setAAD(Buffer.from(associatedData, "utf8"));
  decipher.setAuthTag(sealed.authTag);
  return Buffer.concat([decipher.update(sealed.ciphertext), decipher.final()]).toString("utf8");
}
