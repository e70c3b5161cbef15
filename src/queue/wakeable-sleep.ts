// Owns how a polling consumer waits: until its next poll, or until something it should look
// at arrived and woke it (one sleeper, or all of them).
export type WakeableSleep = { sleep(): Promise<void>; wakeOne(): void; wakeAll(): void };

export function createWakeableSleep(pollMs: number): WakeableSleep {
  const sleepers = new Set<() => void>();
  return {
    sleep: () =>
      new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          sleepers.delete(done);
          resolve();
        };
        const timer = setTimeout(done, pollMs);
        sleepers.add(done);
      }),
    wakeOne: () => sleepers.values().next().value?.(),
    wakeAll: () => {
      for (const sleeper of [...sleepers]) sleeper();
    },
  };
}
