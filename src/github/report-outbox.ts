// Owns sending the reporting outbox (github_reports) to GitHub: reporters in every process
// that has GitHub credentials claim due reports, one object at a time each, and send its
// newest facts, outside any database transaction. A report that fails is tried again with
// growing delays until it lands or newer facts replace it; one GitHub keeps refusing (a 4xx
// that is not a rate limit, say a deleted check run, on every one of a few tries: GitHub
// briefly refuses a commit it has not indexed yet) is logged and dropped. Reporters
// wake on PostgreSQL NOTIFY from the table's trigger, and poll as well.
import type { Logger } from "pino";
import type pg from "pg";
import type { Config } from "../config/load-config.js";
import { createWakeableSleep } from "../queue/wakeable-sleep.js";
import type { Database } from "../store/create-database.js";
import { claimReport, markReported, markReportFailed, type DueReport } from "../store/github-reports.js";
import type { InstallationClients } from "./create-installation-client.js";
import { sendDeploymentReport } from "./report-deployment.js";
import { updatePullRequestComment } from "./update-pull-request-comment.js";

export type ReportOutboxDependencies = { config: Config; db: Database; github: InstallationClients; log: Logger };

const pollMs = 1_000;
const leaseSeconds = 120;
const backoffSeconds = (attempts: number) => Math.min(2 ** attempts, 300);
const channel = "slipway_github_reports";

const refusalTries = 5;

// Refused for good: GitHub gave the same kind of answer on every try.
function refusedForGood(error: unknown, attempts: number): boolean {
  const status = (error as { status?: unknown }).status;
  return attempts >= refusalTries && typeof status === "number" && status >= 400 && status < 500 && ![403, 408, 409, 429].includes(status);
}

const describe = (error: unknown) => (error instanceof Error ? error.message : String(error)).split("\n")[0]!.slice(0, 500);

export async function sendReport(deps: ReportOutboxDependencies, report: DueReport): Promise<void> {
  const facts = report.facts;
  if (facts.kind === "deployment") return sendDeploymentReport(deps, facts);
  await updatePullRequestComment(deps, deps.github.forInstallation(facts.installationId), facts);
}

export function startReportOutbox(deps: ReportOutboxDependencies, settings: { concurrency: number }): { stop(): Promise<void> } {
  const log = deps.log.child({ component: "report-outbox" });
  let stopped = false;
  const idle = createWakeableSleep(pollMs);

  async function sendOne(): Promise<boolean> {
    const report = await claimReport(deps.db, leaseSeconds);
    if (!report) return false;
    try {
      await sendReport(deps, report);
      await markReported(deps.db, report.key, report.revision);
    } catch (error) {
      if (refusedForGood(error, report.attempts + 1)) {
        log.warn({ key: report.key, err: { message: describe(error) } }, "GitHub refused a report for good; it is dropped");
        await markReported(deps.db, report.key, report.revision, describe(error));
      } else {
        const retryIn = backoffSeconds(report.attempts + 1);
        log.warn({ key: report.key, attempts: report.attempts + 1, retryInSeconds: retryIn, err: { message: describe(error) } }, "could not report to GitHub; it will be tried again");
        await markReportFailed(deps.db, report.key, report.revision, describe(error), retryIn);
      }
    }
    return true;
  }

  async function consume(): Promise<void> {
    while (!stopped) {
      const sent = await sendOne().catch((error: Error) => {
        log.warn({ err: { message: error.message } }, "could not claim a report");
        return false;
      });
      if (!sent) await idle.sleep();
    }
  }

  // NOTIFY only wakes reporters early; polling keeps them going without it.
  let listener: pg.PoolClient | null = null;
  void deps.db
    .connect()
    .then(async (client) => {
      if (stopped) return client.release();
      listener = client;
      client.on("notification", idle.wakeAll);
      client.on("error", () => {
        client.release(true);
        listener = null;
      });
      await client.query(`listen ${channel}`);
    })
    .catch((error: Error) => log.warn({ err: { message: error.message } }, "could not listen for reports; polling only"));

  const consumers = Array.from({ length: settings.concurrency }, () => consume());
  return {
    async stop() {
      stopped = true;
      idle.wakeAll();
      await Promise.all(consumers);
      const client = listener as pg.PoolClient | null;
      listener = null;
      if (client) {
        await client.query(`unlisten ${channel}`).catch(() => {});
        client.release();
      }
    },
  };
}
