// Slipway pool loader: what a pooled runtime container runs while it waits for code.
// Started by helpers/pool-start.sh in a container that has no function yet, no secret and
// no variables. It listens on :3000 (published on the host's loopback only, like the
// server that replaces it) and answers only:
//
//   GET  /__slipway/pool   200 "waiting": the member is ready to be assigned
//   POST /__slipway/load   the assignment, once; needs x-slipway-pool-token equal to
//                          SLIPWAY_POOL_TOKEN. Body: a 4-byte big-endian length N, N bytes
//                          of NUL-terminated NAME=value pairs (the function's variables, its
//                          secret and entrypoint), then the artifact (code.tar.gz)
//   anything else          503 (in particular /__opr/health: not healthy until loaded)
//
// On a load it writes the artifact to /mnt/code/code.tar.gz, answers 204, prints the pairs
// NUL-terminated on stdout (a pipe to pool-start.sh, never a file or a log) and exits 0;
// pool-start.sh exports them and runs helpers/start.sh. Without a load within
// SLIPWAY_POOL_IDLE_SECONDS it exits 3: the member retires itself.
import http from "node:http";
import fs from "node:fs";
import crypto from "node:crypto";

const ARTIFACT = "/mnt/code/code.tar.gz";
const token = process.env.SLIPWAY_POOL_TOKEN || "";
const idleSeconds = Number(process.env.SLIPWAY_POOL_IDLE_SECONDS || 0);
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const log = (message) => process.stderr.write(`[slipway-pool] ${message}\n`);

if (token.length < 32) {
  log("SLIPWAY_POOL_TOKEN is missing or shorter than 32 characters; refusing to wait for code.");
  process.exit(2);
}

function tokenMatches(given) {
  if (typeof given !== "string") return false;
  const a = crypto.createHash("sha256").update(given).digest();
  const b = crypto.createHash("sha256").update(token).digest();
  return crypto.timingSafeEqual(a, b);
}

function parsePairs(block) {
  const pairs = [];
  for (const pair of block.toString("utf8").split("\0")) {
    if (pair === "") continue;
    const name = pair.slice(0, pair.indexOf("="));
    if (pair.indexOf("=") <= 0 || !NAME.test(name)) throw new Error(`a variable name is not NAME=value with NAME of letters, digits and _`);
    pairs.push(pair);
  }
  return pairs;
}

let loading = false;

/** Reads the header block, then streams the rest of the body into the artifact file. */
function receive(req) {
  return new Promise((resolve, reject) => {
    let head = Buffer.alloc(0);
    let pairs = null;
    let file = null;
    const fail = (error) => {
      file?.destroy();
      reject(error);
    };
    req.on("data", (chunk) => {
      if (file) {
        if (!file.write(chunk)) {
          req.pause();
          file.once("drain", () => req.resume());
        }
        return;
      }
      head = Buffer.concat([head, chunk]);
      if (head.length < 4) return;
      const length = head.readUInt32BE(0);
      if (length > 4 * 1024 * 1024) return fail(new Error("the variables block is larger than 4 MB"));
      if (head.length < 4 + length) return;
      try {
        pairs = parsePairs(head.subarray(4, 4 + length));
      } catch (error) {
        return fail(error);
      }
      file = fs.createWriteStream(ARTIFACT, { mode: 0o600 });
      file.on("error", fail);
      const rest = head.subarray(4 + length);
      if (rest.length) file.write(rest);
    });
    req.on("end", () => {
      if (!file) return fail(new Error("the body ended before the variables block"));
      file.end(() => resolve(pairs));
    });
    req.on("error", fail);
  });
}

const server = http.createServer(async (req, res) => {
  const pathname = (req.url || "/").split("?")[0];
  if (req.method === "GET" && pathname === "/__slipway/pool") {
    req.resume();
    return res.writeHead(200, { "content-type": "text/plain" }).end("waiting");
  }
  if (req.method !== "POST" || pathname !== "/__slipway/load") {
    req.resume();
    return res.writeHead(503, { "content-type": "text/plain" }).end("This runtime is waiting for code.");
  }
  if (!tokenMatches(req.headers["x-slipway-pool-token"])) {
    req.resume();
    return res.writeHead(403, { "content-type": "text/plain" }).end("Wrong pool token.");
  }
  if (loading) {
    req.resume();
    return res.writeHead(409, { "content-type": "text/plain" }).end("This member is being loaded already.");
  }
  loading = true;
  // One assignment only: from here on nothing else is accepted.
  server.close();
  let pairs;
  try {
    pairs = await receive(req);
  } catch (error) {
    log(`load failed: ${error.message}`);
    // The rest of the body is read (and dropped) first: an answer while the gateway is still
    // sending would reach it as a reset connection, not as the reason.
    req.removeAllListeners("data");
    if (!req.readableEnded) {
      await new Promise((resolve) => {
        for (const event of ["end", "error", "close"]) req.once(event, resolve);
        req.resume();
      });
    }
    res.writeHead(400, { "content-type": "text/plain", connection: "close" }).end(`Load failed: ${error.message}`);
    res.on("finish", () => process.exit(1));
    return;
  }
  res.writeHead(204, { connection: "close" }).end();
  res.on("finish", () => {
    process.stdout.write(pairs.map((pair) => `${pair}\0`).join(""), () => process.exit(0));
  });
});

server.listen(3000, "0.0.0.0", () => log("Waiting for code."));
if (idleSeconds > 0) {
  setTimeout(() => {
    if (loading) return;
    log(`No code within ${idleSeconds} s; this pool member retires.`);
    process.exit(3);
  }, idleSeconds * 1000).unref();
}
