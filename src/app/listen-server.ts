// Owns starting an HTTP server on its port: a failure to listen (the port in use, not
// allowed) rejects with a message that names the setting, instead of an unhandled
// 'error' event that prints a stack and kills the process.
import type { Server } from "node:http";

export class ListenError extends Error {
  constructor(readonly setting: string, readonly port: number, readonly code: string | undefined) {
    super(
      code === "EADDRINUSE"
        ? `${setting} ${port} is in use: stop what listens there (\`ss -ltnp 'sport = :${port}'\` shows it) or set ${setting} to a free port`
        : code === "EACCES"
          ? `${setting} ${port} needs privileges this process does not have: choose a port above 1023`
          : `${setting} ${port}: cannot listen (${code ?? "unknown error"})`,
    );
    this.name = "ListenError";
  }
}

export function listenServer(server: Server, options: { port: number; host: string; setting: string }): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const failed = (error: NodeJS.ErrnoException) => reject(new ListenError(options.setting, options.port, error.code));
    server.once("error", failed);
    server.listen(options.port, options.host, () => {
      server.off("error", failed);
      resolve();
    });
  });
}
