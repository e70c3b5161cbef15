// The key-rotation command (`slipway variables rotate`): with the new key in
// SLIPWAY_MASTER_KEY and the old one in SLIPWAY_MASTER_KEY_PREVIOUS, re-encrypts every
// variable still under another key and says how many it rewrote. Safe to run twice; once a
// run rewrites 0, SLIPWAY_MASTER_KEY_PREVIOUS can be removed.
import type { Queryable } from "../store/create-database.js";
import { reencryptVariables } from "../store/variables.js";
import { createMasterKeyring } from "./master-keyring.js";

export async function rotateVariableKeys(db: Queryable, env: NodeJS.ProcessEnv = process.env): Promise<{ reencrypted: number; keyId: string }> {
  const keyring = createMasterKeyring(env.SLIPWAY_MASTER_KEY, env.SLIPWAY_MASTER_KEY_PREVIOUS);
  if (!keyring) throw new Error("SLIPWAY_MASTER_KEY is not set; set the new key there and the old one in SLIPWAY_MASTER_KEY_PREVIOUS");
  return { reencrypted: await reencryptVariables(db, keyring), keyId: keyring.currentKeyId };
}
