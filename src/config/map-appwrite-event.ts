// Decides which Slipway event pattern an Appwrite event name in appwrite.json's `events`
// becomes. Slipway emits one kind of event an Appwrite function can subscribe to: a
// deployment of a function finished building (`deployments.<function>.ready` or `.failed`),
// which Appwrite names `functions.<functionId>.deployments.<deploymentId>.update`. Appwrite
// deployment ids are not Slipway's, so the deployment segment must be `*`. Every other
// Appwrite event (users, databases, storage, executions, …) has no source in Slipway. Pure.
import { mapAppwriteFunctionId } from "./map-appwrite-function-id.js";

export type MappedEvent = { ok: true; pattern: string } | { ok: false; reason: string };

export function mapAppwriteEvent(event: string): MappedEvent {
  const parts = event.split(".");
  if (parts[0] !== "functions" || parts[2] !== "deployments" || parts.length < 4 || parts.length > 5) {
    return { ok: false, reason: "Slipway emits no such event; of Appwrite's events it emits only functions.<id>.deployments.*.update" };
  }
  const [, functionPart, , deploymentPart, action] = parts as [string, string, string, string, string | undefined];
  if (deploymentPart !== "*") return { ok: false, reason: "Appwrite deployment ids do not exist in Slipway; write '*' for the deployment" };
  if (action !== undefined && action !== "update" && action !== "*") {
    return { ok: false, reason: `Slipway emits no deployment '${action}' event; it emits one when a build ends (Appwrite's 'update')` };
  }
  let slipwayFunction = "*";
  if (functionPart !== "*") {
    const mapped = mapAppwriteFunctionId(functionPart);
    if (!mapped.ok) return { ok: false, reason: mapped.message };
    slipwayFunction = mapped.id;
  }
  return { ok: true, pattern: `deployments.${slipwayFunction}.*` };
}
