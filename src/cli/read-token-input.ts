// Owns how `slipway login` reads a token: piped on standard input (`--with-token`, as gh
// does), or typed at a prompt on a terminal without being echoed, so it never lands in
// shell history or the process list.
import { createInterface } from "node:readline";
import { Writable } from "node:stream";
import { CliError, exitCodes } from "./cli-error.js";

async function readAll(input: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of input) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(chunks).toString("utf8");
}

export async function readTokenInput(options: { withToken: boolean; prompt: (text: string) => void }): Promise<string> {
  let token: string;
  if (options.withToken) {
    token = await readAll(process.stdin);
  } else if (process.stdin.isTTY) {
    options.prompt("Paste a server token (an operator creates one with `slipway token create --name <you>`): ");
    const silent = new Writable({ write: (_chunk, _encoding, done) => done() });
    const reader = createInterface({ input: process.stdin, output: silent, terminal: true });
    token = await new Promise<string>((resolve) => reader.once("line", resolve));
    reader.close();
    options.prompt("\n");
  } else {
    throw new CliError("standard input is not a terminal: pipe the token in with `slipway login --with-token < token.txt`", exitCodes.usage);
  }
  token = token.trim();
  if (!token) throw new CliError("no token was given", exitCodes.usage);
  return token;
}
