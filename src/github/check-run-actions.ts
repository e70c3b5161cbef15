// Decides which buttons a Slipway check run shows (GitHub allows three; identifiers ≤ 20
// characters, labels ≤ 20, descriptions ≤ 40). Pure. The handlers live in
// handle-check-run-action.ts, keyed by these identifiers.
export type CheckRunAction = { label: string; description: string; identifier: "rollback" | "promote" | "cancel" | "approve" };

export type CheckRunFacts = {
  phase: "queued" | "building" | "ready" | "failed" | "cancelled" | "awaiting approval";
  alias: string;
  /** True when this deployment serves the alias now. */
  serving: boolean;
};

export function checkRunActions(facts: CheckRunFacts): CheckRunAction[] {
  const actions: CheckRunAction[] = [];
  if (facts.phase === "awaiting approval") {
    actions.push({ label: "Approve", description: "Build this fork commit (no secrets)", identifier: "approve" });
  }
  if (facts.phase === "queued" || facts.phase === "building") {
    actions.push({ label: "Cancel", description: "Stop this build", identifier: "cancel" });
  }
  if (facts.phase === "ready") {
    if (facts.alias !== "production") actions.push({ label: "Promote", description: "Serve this build in production", identifier: "promote" });
    if (facts.alias === "production" && facts.serving) actions.push({ label: "Rollback", description: "Serve the previous version again", identifier: "rollback" });
  }
  return actions.slice(0, 3);
}
