// Decides the Slipway function id an Appwrite function `$id` deploys as. Appwrite ids are up
// to 36 characters of a-z, A-Z, 0-9, '.', '-' and '_', not starting with a special
// character; Slipway's are [a-z0-9][a-z0-9-]{0,39}. Letters are lower-cased and '.' and '_'
// become '-'. Two ids of one appwrite.json that map to the same Slipway id are a config
// error (see parse-appwrite-config.ts), never a silent collision. Pure.
export type MappedFunctionId = { ok: true; id: string } | { ok: false; message: string };

const slipwayId = /^[a-z0-9][a-z0-9-]{0,39}$/;

export function mapAppwriteFunctionId(appwriteId: string): MappedFunctionId {
  const id = appwriteId.toLowerCase().replace(/[._]/g, "-");
  if (slipwayId.test(id)) return { ok: true, id };
  return {
    ok: false,
    message: `'${appwriteId}' cannot be a Slipway function id: use 1-36 characters of letters, digits, '.', '-' and '_', starting with a letter or digit (Appwrite's own rule)`,
  };
}
