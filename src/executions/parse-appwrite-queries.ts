// Owns reading the `queries[]` an Appwrite SDK sends to list executions (each a JSON
// query such as {"method":"equal","attribute":"status","values":["completed"]}) into a
// Slipway filter. Supported: equal on status and trigger, limit, offset, and ordering by
// $createdAt newest first (the only order). Any other query is refused with a message
// that says what is supported, never ignored. Pure.
import type { ExecutionStatus, ExecutionTrigger } from "../store/executions.js";

export type ExecutionQuery = { status?: ExecutionStatus[]; trigger?: ExecutionTrigger[]; limit: number; offset: number };

const statuses: Record<string, ExecutionStatus[]> = {
  scheduled: ["scheduled"],
  waiting: ["waiting"],
  processing: ["processing"],
  completed: ["completed"],
  failed: ["failed", "timed_out"],
};
const triggers: Record<string, ExecutionTrigger[]> = { http: ["http", "sync", "async"], schedule: ["schedule"], event: ["event"] };

const supported = "equal on status or trigger, limit, offset and orderDesc('$createdAt')";

export function parseAppwriteQueries(queries: string[]): { ok: true; query: ExecutionQuery } | { ok: false; message: string } {
  const query: ExecutionQuery = { limit: 25, offset: 0 };
  for (const text of queries) {
    let parsed: { method?: unknown; attribute?: unknown; values?: unknown };
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {
      return { ok: false, message: `Invalid query: ${text.slice(0, 100)} is not a JSON query; Slipway reads the queries of Appwrite SDKs 1.5 and later (${supported})` };
    }
    const values = Array.isArray(parsed.values) ? parsed.values : [];
    const fail = (why: string) => ({ ok: false as const, message: `Invalid query: ${why}; Slipway supports ${supported}` });
    switch (parsed.method) {
      case "limit": {
        const limit = Number(values[0]);
        if (!Number.isInteger(limit) || limit < 1 || limit > 5000) return fail("limit must be 1-5000");
        query.limit = limit;
        break;
      }
      case "offset": {
        const offset = Number(values[0]);
        if (!Number.isInteger(offset) || offset < 0) return fail("offset must be 0 or more");
        query.offset = offset;
        break;
      }
      case "orderDesc":
        if (parsed.attribute !== "$createdAt") return fail(`executions cannot be ordered by ${String(parsed.attribute)}`);
        break;
      case "equal": {
        const table = parsed.attribute === "status" ? statuses : parsed.attribute === "trigger" ? triggers : null;
        if (!table) return fail(`executions cannot be filtered on ${String(parsed.attribute)}`);
        const mapped = values.map((v) => table[String(v)]);
        if (values.length === 0 || mapped.some((m) => m === undefined)) return fail(`${String(parsed.attribute)} must be one of ${Object.keys(table).join(", ")}`);
        const flat = mapped.flat() as never[];
        if (parsed.attribute === "status") query.status = flat;
        else query.trigger = flat;
        break;
      }
      default:
        return fail(`'${String(parsed.method)}' queries are not supported`);
    }
  }
  return { ok: true, query };
}
