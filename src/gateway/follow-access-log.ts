// Owns reading nginx's call log as it grows: every interval, whatever was appended since
// the last read is split into whole lines and handed over. nginx writes the log in
// buffered blocks, so neither side pays a system call per request, and a paused or slow
// reader never holds nginx up (a file never blocks its writer, unlike a pipe).
//
// The file is rotated once it passes `rotateAtBytes`: it is renamed, nginx is told to
// reopen its logs (`reopen`, SIGUSR1), and once the new file exists the old one is read to
// its end and removed.
import { open, rename, rm, stat, type FileHandle } from "node:fs/promises";

export type AccessLogFollower = { close(): Promise<void> };

const chunkBytes = 1024 * 1024;

export async function followAccessLog(options: {
  path: string;
  intervalMs: number;
  rotateAtBytes: number;
  reopen(): void;
  onLine(line: string): void;
  onError(error: Error): void;
}): Promise<AccessLogFollower> {
  const { path } = options;
  let file: FileHandle = await open(path, "r");
  let offset = 0;
  let partial = "";
  const buffer = Buffer.allocUnsafe(chunkBytes);

  async function drain(handle: FileHandle): Promise<void> {
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, chunkBytes, offset);
      if (bytesRead === 0) return;
      offset += bytesRead;
      const text = partial + buffer.toString("utf8", 0, bytesRead);
      const lines = text.split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) if (line) options.onLine(line);
    }
  }

  async function rotate(): Promise<void> {
    const old = `${path}.old`;
    await rename(path, old);
    options.reopen();
    for (let i = 0; i < 100 && !(await stat(path).catch(() => null)); i++) await new Promise((r) => setTimeout(r, 20));
    // nginx flushes its buffers into the old file as it reopens.
    await drain(file);
    await file.close();
    await rm(old, { force: true });
    file = await open(path, "r");
    offset = 0;
    partial = "";
  }

  let busy: Promise<void> | null = null;
  const timer = setInterval(() => {
    if (busy) return;
    busy = (async () => {
      await drain(file);
      if (offset >= options.rotateAtBytes) await rotate();
    })()
      .catch((error: Error) => options.onError(error))
      .finally(() => {
        busy = null;
      });
  }, options.intervalMs);

  return {
    async close() {
      clearInterval(timer);
      await busy;
      await drain(file).catch(() => {});
      await file.close();
    },
  };
}
