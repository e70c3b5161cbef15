// A failure the CLI reports as one line and an exit status: 1 when something failed, 2 when
// the command as typed cannot be run (a usage error), as gh and most Unix tools do.
export const exitCodes = { ok: 0, failed: 1, usage: 2 } as const;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2 = exitCodes.failed,
  ) {
    super(message);
    this.name = "CliError";
  }
}
