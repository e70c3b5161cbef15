// Owns what happens to runtime containers' per-execution log files (/mnt/logs/<id>_logs.log
// and _errors.log, which the runtime writes for every request) once an execution is over:
// a function-URL call's are read (capped) and removed; an API execution's, which
// run-execution has already read, are removed after a retention period.
//
// Work is batched per container: every second, one `docker exec` (takeLogFiles) handles
// every id queued for that container since the last one, so a request costs a push onto an
// array, and a busy container one bash a second rather than an exec per request. At most
// one exec per container is in flight; ids that arrive meanwhile wait for the next tick.
//
// An API execution's files stay for a while after they are read: run-execution returns
// before its caller writes the result, and a job that comes back after its gateway died
// decides whether the function already ran from whether those files exist (see
// start-execution-consumers.ts), so they must outlive that write with room to spare.
import type { Logger } from "pino";
import { maxLogBytes } from "../executions/read-execution-logs.js";
import type { RuntimeEngine } from "./runtime-engine.js";
import { isLogId, type LogFiles } from "./take-log-files.js";

export type LogFileCollector = ReturnType<typeof createLogFileCollector>;

type Waiting = { logId: string; resolve(files: LogFiles): void };
type ContainerQueue = { collect: Waiting[]; remove: { logId: string; dueAt: number }[]; busy: Promise<void> | null };

const intervalMs = 1000;
const maxIdsPerExec = 4000; // ~170 KB of arguments, far below the kernel's limit
const budgetBytesPerExec = 16 * 1024 * 1024;
const maxWaiting = 50_000;
export const removeApiLogsAfterMs = 5 * 60 * 1000;

const noFiles: LogFiles = { logs: "", errors: "" };

function containerIsGone(error: unknown): boolean {
  const status = (error as { statusCode?: number }).statusCode;
  return status === 404 || status === 409;
}

export function createLogFileCollector(options: { engine: Pick<RuntimeEngine, "takeLogFiles">; log: Logger }) {
  const { engine, log } = options;
  const queues = new Map<string, ContainerQueue>();
  let waiting = 0;
  let overflowWarned = false;

  function queueOf(containerId: string): ContainerQueue {
    let queue = queues.get(containerId);
    if (!queue) {
      queue = { collect: [], remove: [], busy: null };
      queues.set(containerId, queue);
    }
    return queue;
  }

  /** Reads and removes a finished call's log files; resolves (never rejects) within a tick or two. */
  function collect(containerId: string, logId: string): Promise<LogFiles> {
    if (!isLogId(logId)) return Promise.resolve(noFiles);
    if (waiting >= maxWaiting) {
      // Under overload, serving wins over bookkeeping: the row goes without its logs.
      if (!overflowWarned) log.warn({ waiting }, "too many executions wait for their logs; recording some without them");
      overflowWarned = true;
      return Promise.resolve(noFiles);
    }
    waiting++;
    return new Promise((resolve) => queueOf(containerId).collect.push({ logId, resolve }));
  }

  /** Removes log files that have been read already, once the retention period is over. */
  function release(containerId: string, logId: string): void {
    if (isLogId(logId)) queueOf(containerId).remove.push({ logId, dueAt: Date.now() + removeApiLogsAfterMs });
  }

  async function drain(containerId: string, queue: ContainerQueue, removeDueBy: number): Promise<void> {
    const batch = queue.collect.splice(0, maxIdsPerExec);
    let dueCount = 0;
    // Due times only grow (one retention for all), so the due ids are a prefix.
    while (dueCount < queue.remove.length && batch.length + dueCount < maxIdsPerExec && queue.remove[dueCount]!.dueAt <= removeDueBy) dueCount++;
    const removals = queue.remove.splice(0, dueCount);
    if (batch.length === 0 && removals.length === 0) {
      if (queue.collect.length === 0 && queue.remove.length === 0) queues.delete(containerId);
      return;
    }
    const settle = (waiter: Waiting, files: LogFiles) => {
      waiting--;
      waiter.resolve(files);
    };
    try {
      const taken = await engine.takeLogFiles(containerId, { collect: batch.map((w) => w.logId), remove: removals.map((r) => r.logId) }, { capBytes: maxLogBytes, budgetBytes: budgetBytesPerExec });
      const later: Waiting[] = [];
      for (const waiter of batch) {
        if (taken.skipped.has(waiter.logId)) later.push(waiter);
        else settle(waiter, taken.files.get(waiter.logId) ?? noFiles);
      }
      queue.collect.unshift(...later);
      overflowWarned = false;
    } catch (error) {
      for (const waiter of batch) settle(waiter, noFiles);
      if (containerIsGone(error)) {
        // Its files went with it; nothing queued for it can be done any more.
        for (const waiter of queue.collect.splice(0)) settle(waiter, noFiles);
        queues.delete(containerId);
      } else {
        log.warn({ err: { message: (error as Error).message }, containerId, executions: batch.length }, "could not collect executions' log files");
      }
    }
  }

  function tick(removeDueBy = Date.now()): Promise<void>[] {
    const running: Promise<void>[] = [];
    for (const [containerId, queue] of queues) {
      if (queue.busy) {
        running.push(queue.busy);
        continue;
      }
      const busy = drain(containerId, queue, removeDueBy).finally(() => {
        queue.busy = null;
      });
      queue.busy = busy;
      running.push(busy);
    }
    return running;
  }

  const timer = setInterval(() => void tick(), intervalMs);
  timer.unref();

  return {
    collect,
    release,
    /** Collects what is waiting, so the last calls' rows are written with their logs. */
    async close(): Promise<void> {
      clearInterval(timer);
      for (let round = 0; round < 5 && waiting > 0; round++) await Promise.all(tick(0));
    },
  };
}
