// Owns build containers made ahead of the build that will use them. After a function's
// successful build, its worker starts the container of that function's next build at once
// (its image, limits, capabilities, build network and its own cache volume, exactly as
// prepareBuildContainer makes one during a fetch), so a push that follows starts its build
// with an exec instead of waiting for a container start, the slowest part of a short build.
//
// A container made ahead holds no variables and no source: those come with the build's exec.
// It serves one function only, since its cache volume is that function's, and one build:
// taking it removes it from here, and the build removes it when it ends. It is given to a
// build only if it was made with the same settings (the spec key: image, limits, network,
// cache volume), and only by the worker that made it. One nobody takes within
// SLIPWAY_BUILD_AHEAD_SECONDS is removed: its worker removes it, and its first process stops
// by itself at that time too, and Docker then removes it (AutoRemove), so one whose worker
// died does not stay. A build that takes it tells it so (a signal), and it then lives as long
// as a container made for that build.
import type Docker from "dockerode";
import type { Logger } from "pino";
import { prepareBuildContainer, takeAheadSignal, type BuildContainerSpec, type PreparedBuildContainer } from "./run-build-container.js";

export type BuildContainersAhead = {
  /** The container made ahead for this function with this spec, now the caller's; null when there is none. */
  take(functionId: string, spec: BuildContainerSpec): Promise<PreparedBuildContainer> | null;
  /** Makes the function's next build container (replacing one made before); best effort. */
  prepare(functionId: string, spec: BuildContainerSpec): void;
  /** Removes the function's container, if any (its cache volume is about to be removed). */
  discard(functionId: string): Promise<void>;
  close(): Promise<void>;
};

type Entry = { key: string; container: Promise<PreparedBuildContainer | null>; timer: NodeJS.Timeout; startedAt: number };

// Its first process sets up its signal handler within milliseconds of starting; a signal to
// a container's first process before that would be ignored, so a just-started one is given this long.
const settleMs = 300;

export function specKey(spec: BuildContainerSpec): string {
  return JSON.stringify([spec.image, spec.limits, spec.network ?? null, spec.cacheVolume ?? null]);
}

export function createBuildContainersAhead(docker: Docker, options: { idleSeconds: number; log: Logger }): BuildContainersAhead {
  const entries = new Map<string, Entry>();
  const remove = (entry: Entry) =>
    entry.container.then((prepared) => prepared?.container.remove({ force: true })).then(
      () => {},
      () => {},
    );
  const drop = (functionId: string): Entry | undefined => {
    const entry = entries.get(functionId);
    if (!entry) return undefined;
    entries.delete(functionId);
    clearTimeout(entry.timer);
    return entry;
  };

  return {
    take(functionId, spec) {
      const entry = drop(functionId);
      if (!entry) return null;
      if (entry.key !== specKey(spec)) {
        void remove(entry);
        return null;
      }
      return entry.container.then(async (prepared) => {
        if (!prepared) throw new Error("the build container made ahead could not start");
        const age = Date.now() - entry.startedAt;
        if (age < settleMs) await new Promise((r) => setTimeout(r, settleMs - age));
        try {
          await prepared.container.kill({ signal: takeAheadSignal });
          const info = await prepared.container.inspect();
          if (!info.State.Running) throw new Error("it had stopped");
        } catch (error) {
          await prepared.container.remove({ force: true }).catch(() => {});
          throw new Error(`the build container made ahead could not be taken: ${(error as Error).message}`);
        }
        return prepared;
      });
    },
    prepare(functionId, spec) {
      if (options.idleSeconds <= 0) return;
      const previous = drop(functionId);
      if (previous) void remove(previous);
      const container = prepareBuildContainer(docker, spec, { idleSeconds: options.idleSeconds }).then((prepared) => {
        entry.startedAt = Date.now();
        return prepared;
      }).catch((error: Error) => {
        options.log.warn({ functionId, err: { message: error.message } }, "could not make a build container ahead");
        return null;
      });
      const entry: Entry = {
        startedAt: Date.now(),
        key: specKey(spec),
        container,
        timer: setTimeout(() => {
          if (entries.get(functionId) === entry) entries.delete(functionId);
          void remove(entry);
        }, options.idleSeconds * 1000),
      };
      entry.timer.unref();
      entries.set(functionId, entry);
    },
    async discard(functionId) {
      const entry = drop(functionId);
      if (entry) await remove(entry);
    },
    async close() {
      const all = [...entries.keys()].map((functionId) => drop(functionId)!);
      await Promise.all(all.map(remove));
    },
  };
}
