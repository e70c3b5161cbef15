// Owns the variables table: encrypted values per repository (project-level) or per
// function. Values are sealed before they reach SQL and opened only to build or run a
// function; listing returns names only.
import type { MasterKeyring } from "../variables/master-keyring.js";
import { openValue, sealValue } from "../variables/master-keyring.js";
import type { Queryable } from "./create-database.js";

export type VariableScope = { repositoryId: number; functionId: string | null };

function associatedData(scope: VariableScope, name: string): string {
  return `${scope.repositoryId}:${scope.functionId ?? "project"}:${name}`;
}

export async function setVariable(db: Queryable, keyring: MasterKeyring, scope: VariableScope, name: string, value: string): Promise<{ created: boolean }> {
  const sealed = sealValue(keyring, value, associatedData(scope, name));
  const params = [scope.repositoryId, scope.functionId, name, sealed.keyId, sealed.iv, sealed.ciphertext, sealed.authTag];
  const updated = await db.query(
    `update variables set key_id = $4, iv = $5, ciphertext = $6, auth_tag = $7, updated_at = now()
      where repository_id = $1 and function_id is not distinct from $2 and name = $3`,
    params,
  );
  if (updated.rowCount === 1) return { created: false };
  const conflictTarget = scope.functionId === null ? "(repository_id, name) where function_id is null" : "(function_id, name) where function_id is not null";
  const inserted = await db.query(
    `insert into variables (repository_id, function_id, name, key_id, iv, ciphertext, auth_tag) values ($1, $2, $3, $4, $5, $6, $7)
     on conflict ${conflictTarget} do update set key_id = excluded.key_id, iv = excluded.iv, ciphertext = excluded.ciphertext,
       auth_tag = excluded.auth_tag, updated_at = now()
     returning (xmax = 0) as created`,
    params,
  );
  return { created: Boolean(inserted.rows[0]?.created) };
}

export async function deleteVariable(db: Queryable, scope: VariableScope, name: string): Promise<boolean> {
  const result = await db.query("delete from variables where repository_id = $1 and function_id is not distinct from $2 and name = $3", [scope.repositoryId, scope.functionId, name]);
  return result.rowCount === 1;
}

export async function listVariableNames(db: Queryable, scope: VariableScope): Promise<{ name: string; updatedAt: Date }[]> {
  const result = await db.query<{ name: string; updatedAt: Date }>(
    `select name, updated_at as "updatedAt" from variables where repository_id = $1 and function_id is not distinct from $2 order by name`,
    [scope.repositoryId, scope.functionId],
  );
  return result.rows;
}

/** The function's secret variables, decrypted: project-level first, function-level overriding. */
export async function loadSecretVariables(db: Queryable, keyring: MasterKeyring | null, functionId: string): Promise<Record<string, string>> {
  const result = await db.query<{ repository_id: string; function_id: string | null; name: string; key_id: string; iv: Buffer; ciphertext: Buffer; auth_tag: Buffer }>(
    `select v.repository_id, v.function_id, v.name, v.key_id, v.iv, v.ciphertext, v.auth_tag
       from variables v join functions f on f.repository_id = v.repository_id
      where f.id = $1 and (v.function_id is null or v.function_id = f.id)
      order by (v.function_id is not null), v.name`,
    [functionId],
  );
  if (result.rows.length === 0) return {};
  if (!keyring) throw new Error("this function has encrypted variables, but SLIPWAY_MASTER_KEY is not set");
  const values: Record<string, string> = {};
  for (const row of result.rows) {
    const scope = { repositoryId: Number(row.repository_id), functionId: row.function_id };
    values[row.name] = openValue(keyring, { keyId: row.key_id, iv: row.iv, ciphertext: row.ciphertext, authTag: row.auth_tag }, associatedData(scope, row.name));
  }
  return values;
}

/** Re-encrypts every row not under the current key; returns how many it rewrote. */
export async function reencryptVariables(db: Queryable, keyring: MasterKeyring): Promise<number> {
  const rows = await db.query<{ id: string; repository_id: string; function_id: string | null; name: string; key_id: string; iv: Buffer; ciphertext: Buffer; auth_tag: Buffer }>(
    "select id, repository_id, function_id, name, key_id, iv, ciphertext, auth_tag from variables where key_id <> $1",
    [keyring.currentKeyId],
  );
  let rewritten = 0;
  for (const row of rows.rows) {
    const data = associatedData({ repositoryId: Number(row.repository_id), functionId: row.function_id }, row.name);
    const value = openValue(keyring, { keyId: row.key_id, iv: row.iv, ciphertext: row.ciphertext, authTag: row.auth_tag }, data);
    const sealed = sealValue(keyring, value, data);
    // Only the value that was read: one set meanwhile (by a process still on the old key) is
    // left for the next run rather than overwritten with the old value.
    const updated = await db.query("update variables set key_id = $2, iv = $3, ciphertext = $4, auth_tag = $5 where id = $1 and key_id = $6 and iv = $7", [row.id, sealed.keyId, sealed.iv, sealed.ciphertext, sealed.authTag, row.key_id, row.iv]);
    rewritten += updated.rowCount ?? 0;
  }
  return rewritten;
}
