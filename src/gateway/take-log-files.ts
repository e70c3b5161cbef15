// Owns one `docker exec` into a runtime container that takes many executions' log files at
// once: for each id to collect it prints /mnt/logs/<id>_logs.log and _errors.log (each cut
// at a cap) and removes them; for each id to remove it only removes them. Every runtime
// image is Debian with bash and coreutils, and the loop uses bash builtins only (`[ -s ]`,
// `read -N`), so a batch of thousands of ids costs one bash and one rm, not a process per
// file. Output is framed by byte counts ("<kind> <id> <bytes>\n" then the bytes), so
// nothing a function writes to its log can be mistaken for a frame; an empty or missing
// file (most calls log nothing) prints nothing.
import type Docker from "dockerode";
import type { Readable } from "node:stream";
import { capText } from "../executions/read-execution-logs.js";

export type LogFiles = { logs: string; errors: string };

export type TakenLogFiles = {
  files: Map<string, LogFiles>;
  /** Ids left in place, unread, because the batch's byte budget ran out: take them later. */
  skipped: Set<string>;
};

const logIdPattern = /^[A-Za-z0-9_-]{1,128}$/;
const execTimeoutMs = 30_000;

// $1: bytes to read of each file (one past the cap, so a longer file shows it was cut);
// $2: byte budget of the whole batch; then c:<id> (collect) and r:<id> (remove only).
const script = `cd /mnt/logs 2>/dev/null || exit 0
cap=$1; budget=$2; shift 2
gone=()
for arg in "$@"; do
  id=\${arg:2}
  if [ "\${arg:0:2}" = r: ]; then gone+=("\${id}_logs.log" "\${id}_errors.log"); continue; fi
  if [ "$budget" -le 0 ] && { [ -s "\${id}_logs.log" ] || [ -s "\${id}_errors.log" ]; }; then printf 'skip %s\\n' "$id"; continue; fi
  for kind in logs errors; do
    [ -s "\${id}_\${kind}.log" ] || continue
    text=
    IFS= read -r -d '' -N "$cap" text < "\${id}_\${kind}.log"
    budget=$((budget - \${#text}))
    printf '%s %s %d\\n%s' "$kind" "$id" "\${#text}" "$text"
  done
  gone+=("\${id}_logs.log" "\${id}_errors.log")
done
if [ \${#gone[@]} -gt 0 ]; then rm -f -- "\${gone[@]}"; fi
`;

export function isLogId(logId: string): boolean {
  return logIdPattern.test(logId);
}

/** Parses the script's stdout: frames of "<kind> <id> <bytes>\n<bytes>" and "skip <id>\n". */
export function parseTakenLogFiles(output: Buffer, capBytes: number): TakenLogFiles {
  const files = new Map<string, LogFiles>();
  const skipped = new Set<string>();
  let position = 0;
  while (position < output.length) {
    const newline = output.indexOf(10, position);
    if (newline < 0) break;
    const [kind, id, size] = output.toString("latin1", position, newline).split(" ");
    position = newline + 1;
    if (kind === "skip" && id) {
      skipped.add(id);
      continue;
    }
    const length = Number(size);
    if ((kind !== "logs" && kind !== "errors") || !id || !Number.isInteger(length) || length < 0) break;
    const text = output.toString("utf8", position, Math.min(position + length, output.length));
    position += length;
    const entry = files.get(id) ?? { logs: "", errors: "" };
    entry[kind] = capText(text, capBytes);
    files.set(id, entry);
  }
  return { files, skipped };
}

/** Non-TTY exec output is multiplexed: an 8-byte header (stream, size) per frame. */
function demultiplex(raw: Buffer): { stdout: Buffer; stderr: string } {
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  let offset = 0;
  while (offset + 8 <= raw.length) {
    const size = raw.readUInt32BE(offset + 4);
    (raw[offset] === 2 ? stderr : stdout).push(raw.subarray(offset + 8, offset + 8 + size));
    offset += 8 + size;
  }
  return { stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr).toString("utf8").trim() };
}

export async function takeLogFiles(
  docker: Docker,
  containerId: string,
  ids: { collect: readonly string[]; remove: readonly string[] },
  limits: { capBytes: number; budgetBytes: number },
): Promise<TakenLogFiles> {
  const collect = ids.collect.filter(isLogId);
  const remove = ids.remove.filter(isLogId);
  if (collect.length === 0 && remove.length === 0) return { files: new Map(), skipped: new Set() };
  const exec = await docker.getContainer(containerId).exec({
    Cmd: ["bash", "-c", script, "bash", String(limits.capBytes + 1), String(limits.budgetBytes), ...collect.map((id) => `c:${id}`), ...remove.map((id) => `r:${id}`)],
    // Byte semantics for ${#text} and read -N, whatever the image's locale.
    Env: ["LC_ALL=C"],
    AttachStdout: true,
    AttachStderr: true,
  });
  const stream = (await exec.start({})) as unknown as Readable;
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      stream.destroy();
      reject(new Error(`reading log files took longer than ${execTimeoutMs / 1000} s`));
    }, execTimeoutMs);
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("end", () => {
      clearTimeout(timer);
      resolve();
    });
    stream.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
  const { stdout, stderr } = demultiplex(Buffer.concat(chunks));
  const taken = parseTakenLogFiles(stdout, limits.capBytes);
  if (collect.length > 0 && taken.files.size === 0 && taken.skipped.size === 0 && stderr) throw new Error(stderr);
  return taken;
}
