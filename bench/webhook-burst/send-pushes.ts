// Owns sending the bench's webhooks from a thread of its own. The GitHub emulator runs on
// the bench's main thread and validates every call the app makes against GitHub's OpenAPI
// description; during a burst that keeps the main thread busy, and an answer timed there
// would include the wait for it. Here each push is sent at its offset from the start of
// its batch, none waits for another's answer, and times are epoch milliseconds
// (performance.timeOrigin + performance.now()), comparable across threads.
import { parentPort, Worker } from "node:worker_threads";
import { setTimeout as sleep } from "node:timers/promises";
import { deliverWebhook } from "../../test/emulator/webhooks.js";

export type PushToSend = { deliveryId: string; payload: unknown; atMs: number };
export type SentPush = { deliveryId: string; sentAt: number; ackMs: number; outcome: string };
type Batch = { id: number; url: string; secret: string; pushes: PushToSend[] };

const now = () => performance.timeOrigin + performance.now();

async function sendBatch(batch: Batch): Promise<SentPush[]> {
  const start = now();
  return Promise.all(
    batch.pushes.map(async (push) => {
      const wait = start + push.atMs - now();
      if (wait > 0) await sleep(wait);
      const sentAt = now();
      let outcome: string;
      try {
        outcome = String((await deliverWebhook({ url: batch.url, event: "push", payload: push.payload, secret: batch.secret, deliveryId: push.deliveryId })).status);
      } catch (error) {
        outcome = (error as Error).message.split("\n")[0]!;
      }
      return { deliveryId: push.deliveryId, sentAt, ackMs: now() - sentAt, outcome };
    }),
  );
}

if (parentPort) {
  const port = parentPort;
  port.on("message", (batch: Batch) => void sendBatch(batch).then((sent) => port.postMessage({ id: batch.id, sent })));
}

// A worker thread does not inherit `--import tsx`: it registers tsx itself, then loads this file.
const bootstrap = `const { workerData } = require("node:worker_threads");
import(workerData.tsx).then(({ register }) => { register(); return import(workerData.entry); });`;

/** Starts the sending thread; `send` resolves once every push of the batch has its answer. */
export function startPushSender(url: string, secret: string) {
  const worker = new Worker(bootstrap, { eval: true, workerData: { tsx: import.meta.resolve("tsx/esm/api"), entry: import.meta.url } });
  let dead: Error | null = null;
  const waiting = new Map<number, { resolve: (sent: SentPush[]) => void; reject: (error: Error) => void }>();
  let nextId = 0;
  worker.on("message", (message: { id: number; sent: SentPush[] }) => {
    waiting.get(message.id)?.resolve(message.sent);
    waiting.delete(message.id);
  });
  const die = (error: Error) => {
    dead ??= error;
    for (const { reject } of waiting.values()) reject(dead);
    waiting.clear();
  };
  worker.on("error", die);
  worker.on("exit", (code) => die(new Error(`the push sender thread exited (${code})`)));
  return {
    send(pushes: PushToSend[]): Promise<SentPush[]> {
      const id = nextId++;
      if (dead) return Promise.reject(dead);
      return new Promise((resolve, reject) => {
        waiting.set(id, { resolve, reject });
        worker.postMessage({ id, url, secret, pushes } satisfies Batch);
      });
    },
    stop: () => worker.terminate(),
  };
}
