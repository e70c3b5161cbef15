// Issue 13, deliverable 7: archives are checked as the filesystem they become. Each case is
// a real .tar.gz built here with tar-stream: a chain of links that climbs out, a hard link
// that escapes only when read from the root (as tar reads it), devices and FIFOs, gzip
// bombs, and build outputs whose runtime could never start. Each is refused with its own
// reason, for builds and for uploads (through the upload route too); good archives pass.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { createGzip, gzipSync } from "node:zlib";
import tar from "tar-stream";
import { createApiToken } from "../../src/api/api-tokens.js";
import { createApiRouter } from "../../src/api/create-api-router.js";
import { registerUploadRoutes } from "../../src/api/upload-routes.js";
import type { AppDependencies } from "../../src/app/start-app.js";
import { createLocalArtifactStore } from "../../src/artifacts/local-artifact-store.js";
import { SourceArchiveError, unpackSourceArchive } from "../../src/pipeline/source-archive.js";
import { ArtifactRefusedError, checkBuildOutput, streamArtifactOut } from "../../src/pipeline/stream-artifact-out.js";
import { loadRuntimeCatalog, type Runtime } from "../../src/runtimes/runtime-catalog.js";
import { upsertFunction } from "../../src/store/functions.js";
import { upsertRepository } from "../../src/store/repositories.js";
import { createTestDatabase } from "../support/create-test-database.js";

type Entry = Parameters<tar.Pack["entry"]>[0] & { content?: string };

const runtimes = loadRuntimeCatalog({});
const node = runtimes.get("node-20")!;
const python = runtimes.get("python-3.13")!;
const rust = runtimes.get("rust-1.85")!;
const megabyte = 1024 * 1024;

async function collect(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function tarOf(entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const { content, ...header } of entries) {
    if (header.type && header.type !== "file") pack.entry(header);
    else pack.entry(header, content ?? "");
  }
  pack.finalize();
  return collect(pack);
}

const targz = async (entries: Entry[]) => gzipSync(await tarOf(entries));

/** A gzip that stays small however many zeros it holds: `zeros` bytes after `before`, streamed. */
async function gzipWithZeros(before: Buffer, zeros: number, after = Buffer.alloc(0)): Promise<Buffer> {
  const gzip = createGzip();
  const done = collect(gzip);
  gzip.write(before);
  const chunk = Buffer.alloc(megabyte);
  for (let left = zeros; left > 0; left -= chunk.length) {
    if (!gzip.write(left >= chunk.length ? chunk : chunk.subarray(0, left))) await new Promise((resolve) => gzip.once("drain", resolve));
  }
  gzip.end(after);
  return done;
}

/** A tar holding one file of `size` zeros, streamed so no test holds it whole. */
async function zeroFileBomb(size: number): Promise<Buffer> {
  const pack = tar.pack();
  const gzip = createGzip();
  const done = collect(pack.pipe(gzip));
  const entry = pack.entry({ name: "./zeros.bin", size });
  const chunk = Buffer.alloc(megabyte);
  for (let left = size; left > 0; left -= chunk.length) {
    if (!entry.write(left >= chunk.length ? chunk : chunk.subarray(0, left))) await new Promise<void>((resolve) => entry.once("drain", () => resolve()));
  }
  entry.end(Buffer.alloc(0));
  pack.finalize();
  return done;
}

const checkBuild = (archive: Buffer, runtime: Runtime = node, entrypoint = "index.js", maxUnpackedBytes = 64 * megabyte) =>
  checkBuildOutput(Readable.from([archive]), { runtime, entrypoint, maxUnpackedBytes });

async function buildRefused(archive: Buffer, message: string | RegExp, runtime: Runtime = node, entrypoint = "index.js", maxUnpackedBytes = 64 * megabyte): Promise<void> {
  await assert.rejects(checkBuild(archive, runtime, entrypoint, maxUnpackedBytes), (error: Error) => {
    assert.ok(error instanceof ArtifactRefusedError, `an ArtifactRefusedError, not ${error.name}: ${error.message}`);
    if (typeof message === "string") assert.equal(error.message, message);
    else assert.match(error.message, message);
    return true;
  });
}

const chain: Entry[] = [
  { name: "./" , type: "directory" },
  { name: "./index.js", content: "module.exports = async (c) => c.res.text('ok');\n" },
  { name: "./d", type: "symlink", linkname: "." },
  { name: "./e", type: "symlink", linkname: "d/.." },
  { name: "./f", type: "symlink", linkname: "e/../../etc/passwd" },
];

describe("build outputs are checked as a filesystem", () => {
  test("a good build output passes: links and chains that stay inside, hard links named from the root, the entrypoint through a link", async () => {
    const archive = await targz([
      { name: "./", type: "directory" },
      { name: "./.open-runtimes", content: "OPEN_RUNTIMES_ENTRYPOINT=main.js\n" },
      { name: "./lib/", type: "directory" },
      { name: "./lib/handler.js", content: "module.exports = async (c) => c.res.text('ok');\n" },
      { name: "./node_modules/pkg/cli.js", content: "#!/usr/bin/env node\n", mode: 0o755 },
      { name: "./node_modules/.bin/cli", type: "symlink", linkname: "../pkg/cli.js" },
      { name: "./d", type: "symlink", linkname: "." },
      { name: "./through-d", type: "symlink", linkname: "d/lib/../lib/handler.js" },
      { name: "./main.js", type: "symlink", linkname: "through-d" },
      // GNU tar names a hard link's target from the archive's root, './' and all.
      { name: "./lib/deep/copy.js", type: "link", linkname: "./lib/handler.js" },
      { name: "./dangling", type: "symlink", linkname: "made-at-runtime/cache" },
    ]);
    const checked = await checkBuild(archive, node, "main.js");
    assert.equal(checked.entries, 11);
    assert.equal(checked.unpackedBytes, "OPEN_RUNTIMES_ENTRYPOINT=main.js\n".length + "module.exports = async (c) => c.res.text('ok');\n".length + "#!/usr/bin/env node\n".length);
    await checkBuild(archive, node, "./lib/deep/copy.js");

    await checkBuild(await targz([{ name: "src/main.py", content: "def main(context):\n    return context.res.text('ok')\n" }]), python, "src/main.py");
    await checkBuild(await targz([{ name: "./slipway-rust-server", content: "\x7fELF", mode: 0o755 }, { name: "./src/lib.rs", content: "" }]), rust, "src/lib.rs");
  });

  test("a chain of symlinks that climbs out is refused, naming the link and the way it went", async () => {
    await buildRefused(await targz(chain), "the link 'e' points outside the build output ('d/..', through 'd' -> '.')");
    // In the other order the first link checked is 'f', which climbs out through both.
    await buildRefused(
      await targz([chain[1]!, chain[4]!, chain[3]!, chain[2]!]),
      "the link 'f' points outside the build output ('e/../../etc/passwd', through 'e' -> 'd/..', 'd' -> '.')",
    );
    // Each link alone looks harmless by its name: only 'd -> .' is, and it passes.
    await checkBuild(await targz(chain.slice(0, 3)));
  });

  test("links that never resolve are refused", async () => {
    await buildRefused(
      await targz([{ name: "index.js" }, { name: "a", type: "symlink", linkname: "b" }, { name: "b", type: "symlink", linkname: "a" }]),
      "the link 'a' never resolves: it is part of a loop, or of a chain of more than 40 links ('b')",
    );
    await buildRefused(await targz([{ name: "index.js" }, { name: "x", type: "symlink", linkname: "x/y" }]), /the link 'x' never resolves/);
  });

  test("a hard link is resolved from the archive's root, not from its own folder", async () => {
    const folders: Entry[] = [{ name: "index.js" }, { name: "a/x", content: "inside" }, { name: "a/b/", type: "directory" }];
    // From its folder, 'a/b/../x' is 'a/x', inside; from the root, as tar links it, '../x' is outside.
    await buildRefused(await targz([...folders, { name: "a/b/h", type: "link", linkname: "../x" }]), "the hard link 'a/b/h' points outside the build output ('../x')");
    // From its folder 'y' would be 'a/b/y'; from the root there is no 'y'.
    await buildRefused(
      await targz([...folders, { name: "a/b/y", content: "y" }, { name: "a/b/h", type: "link", linkname: "y" }]),
      "the hard link 'a/b/h' points to 'y', which is not a regular file earlier in the build output",
    );
    await buildRefused(
      await targz([...folders, { name: "d", type: "symlink", linkname: "." }, { name: "h", type: "link", linkname: "d/../etc/passwd" }]),
      "the hard link 'h' points outside the build output ('d/../etc/passwd', through 'd' -> '.')",
    );
    // link(2) does not follow the last link: a hard link to a link would be a link read from elsewhere.
    await buildRefused(
      await targz([{ name: "index.js" }, { name: "s", type: "symlink", linkname: "index.js" }, { name: "h", type: "link", linkname: "s" }]),
      "the hard link 'h' points to 's', which is not a regular file earlier in the build output",
    );
    await buildRefused(await targz([{ name: "index.js" }, { name: "h", type: "link", linkname: "/etc/passwd" }]), "the hard link 'h' points to the absolute path '/etc/passwd'; only links inside the build output are allowed");
  });

  test("devices, FIFOs and entries of unknown types are refused", async () => {
    const only = "only regular files, directories, symbolic links and hard links inside the build output are allowed";
    await buildRefused(await targz([{ name: "index.js" }, { name: "./dev/null", type: "character-device", devmajor: 1, devminor: 3 }]), `the archive entry 'dev/null' is a character device; ${only}`);
    await buildRefused(await targz([{ name: "index.js" }, { name: "./disk", type: "block-device", devmajor: 253, devminor: 0 }]), `the archive entry 'disk' is a block device; ${only}`);
    await buildRefused(await targz([{ name: "index.js" }, { name: "./pipe", type: "fifo" }]), `the archive entry 'pipe' is a FIFO (named pipe); ${only}`);
    // A GNU sparse file ('S'), which tar-stream does not know: its header rewritten by hand.
    const plain = await tarOf([{ name: "sparse", content: "x" }]);
    plain[156] = "S".charCodeAt(0);
    plain.fill(" ", 148, 156);
    let sum = 0;
    for (let index = 0; index < 512; index++) sum += plain[index]!;
    plain.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "latin1");
    await buildRefused(gzipSync(plain), `the archive entry 'sparse' is an entry of an unknown type; ${only}`);
  });

  test("a gzip bomb is stopped at SLIPWAY_MAX_UNPACKED_MB while it streams", async () => {
    const bomb = await zeroFileBomb(32 * megabyte);
    assert.ok(bomb.length < 100 * 1024, `a small gzip (${bomb.length} bytes) that unpacks to 32 MB`);
    await buildRefused(bomb, "the unpacked build output is larger than 1 MB (SLIPWAY_MAX_UNPACKED_MB)", node, "index.js", megabyte);
    // Zeros after the end of the tar are no file, but gunzip still has to unpack them.
    const trailing = await gzipWithZeros(await tarOf([{ name: "index.js", content: "x" }]), 32 * megabyte);
    assert.ok(trailing.length < 100 * 1024);
    await buildRefused(trailing, "the unpacked build output is larger than 1 MB (SLIPWAY_MAX_UNPACKED_MB)", node, "index.js", megabyte);
    // Under the limit, the same shape passes.
    await checkBuild(await zeroFileBomb(megabyte / 2), node, "zeros.bin", megabyte);
  });

  test("a build output its runtime could never start is refused", async () => {
    const withoutEntrypoint = await targz([{ name: "./", type: "directory" }, { name: "./main.js", content: "x" }, { name: "./lib/", type: "directory" }]);
    await buildRefused(
      withoutEntrypoint,
      "the build output has no entrypoint 'index.js', which the node-20 runtime starts the function from; check `entrypoint` in slipway.yml and that the build leaves that file in place",
    );
    await buildRefused(withoutEntrypoint, /the build output has no entrypoint 'src\/main\.py', which the python-3\.13 runtime/, python, "src/main.py");
    await buildRefused(withoutEntrypoint, "'lib' in the build output is a directory, not a file, so the node-20 runtime could never start it", node, "lib");
    await buildRefused(withoutEntrypoint, "the entrypoint '../main.js' lies outside the function's folder, so the node-20 runtime could never start it", node, "../main.js");
    await buildRefused(await targz([{ name: "index.js", type: "symlink", linkname: "gone.js" }]), /the build output has no entrypoint 'index\.js'/);
    await buildRefused(
      await targz([{ name: "./src/lib.rs", content: "pub fn main() {}" }]),
      "the build output has no 'slipway-rust-server', the file the rust-1.85 runtime starts from, so it could never start",
      rust,
      "src/lib.rs",
    );
    // A runtime that names no start file (an operator's own) is not checked for one.
    await checkBuild(withoutEntrypoint, { name: "go-1.23", image: "openruntimes/go:v5-1.23", entrypoint: "main.go", commands: "" }, "main.go");
  });

  test("a refused build output is never kept in the artifact store; a good one is", async () => {
    const directory = await mkdtemp(join(tmpdir(), "slipway-artifacts-"));
    try {
      const store = createLocalArtifactStore(directory);
      // What getArchive gives: a tar holding code.tar.gz.
      const container = (codeTarGz: Buffer) =>
        ({ getArchive: async () => Readable.from([await tarOf([{ name: "code.tar.gz", content: codeTarGz as unknown as string }])]) }) as never;
      const rules = { maxBytes: 16 * megabyte, maxUnpackedBytes: 16 * megabyte, runtime: node, entrypoint: "index.js" };
      await assert.rejects(streamArtifactOut(container(await targz(chain)), store, rules), /the link 'e' points outside the build output/);
      await assert.rejects(streamArtifactOut(container(await zeroFileBomb(32 * megabyte)), store, rules), /larger than 16 MB \(SLIPWAY_MAX_UNPACKED_MB\)/);
      await assert.rejects(streamArtifactOut(container(await targz([{ name: "main.js" }])), store, rules), /no entrypoint 'index\.js'/);
      await assert.rejects(
        streamArtifactOut(container(await targz([{ name: "index.js", content: randomBytes(8192).toString("base64") }])), store, { ...rules, maxBytes: 1024 }),
        (error: Error) => error instanceof ArtifactRefusedError && /larger than the 0 MB limit \(SLIPWAY_MAX_ARTIFACT_MB\)/.test(error.message),
      );
      const blobs = async () => (await readdir(directory, { recursive: true })).filter((name) => name.endsWith(".tar.gz"));
      assert.deepEqual(await blobs(), [], "nothing refused was stored");
      assert.deepEqual(await readdir(join(directory, "tmp")), [], "and nothing was left half-written");

      const stored = await streamArtifactOut(container(await targz([{ name: "./index.js", content: "x" }])), store, rules);
      assert.ok(await store.has(stored.digest));
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});

describe("uploads are checked the same way", () => {
  async function uploadRefused(archive: Buffer, message: string, limits = { maxBytes: 64 * megabyte, maxEntries: 1000 }): Promise<void> {
    const directory = await mkdtemp(join(tmpdir(), "slipway-upload-"));
    try {
      for (const into of [null, directory]) {
        await assert.rejects(unpackSourceArchive(Readable.from([archive]), into, limits), (error: Error) => error instanceof SourceArchiveError && error.message === message);
      }
      assert.deepEqual(await readdir(directory), [], "nothing of a refused upload is unpacked but its plain files");
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  }

  test("a symlink chain, a device, a FIFO and a bomb are refused with their reasons", async () => {
    await uploadRefused(await targz(chain.slice(2)), "the link 'e' points outside the upload ('d/..', through 'd' -> '.')");
    const only = "only regular files, directories and symbolic links inside the upload are allowed";
    await uploadRefused(await targz([{ name: "null", type: "character-device", devmajor: 1, devminor: 3 }]), `the archive entry 'null' is a character device; ${only}`);
    await uploadRefused(await targz([{ name: "disk", type: "block-device", devmajor: 253, devminor: 0 }]), `the archive entry 'disk' is a block device; ${only}`);
    await uploadRefused(await targz([{ name: "pipe", type: "fifo" }]), `the archive entry 'pipe' is a FIFO (named pipe); ${only}`);
    await uploadRefused(await zeroFileBomb(32 * megabyte), "the unpacked upload is larger than 1 MB (SLIPWAY_MAX_UNPACKED_MB)", { maxBytes: megabyte, maxEntries: 1000 });
  });

  describe("through the upload route", () => {
    let database: Awaited<ReturnType<typeof createTestDatabase>>;
    let server: Server;
    let artifactDirectory: string;
    let url = "";
    let token = "";

    before(async () => {
      database = await createTestDatabase();
      artifactDirectory = await mkdtemp(join(tmpdir(), "slipway-upload-route-"));
      await upsertRepository(database.db, { id: 1313, installationId: 13, owner: "tester", name: "site", cloneUrl: "https://github.invalid/tester/site.git", defaultBranch: "main" });
      const fn = await upsertFunction(database.db, {
        repositoryId: 1313,
        name: "hello",
        slug: "hello--site--tester",
        runtime: "node-20",
        root: "hello",
        entrypoint: "index.js",
        commands: "",
        branch: "main",
        cache: false,
      });
      token = (await createApiToken(database.db, { name: "tester", kind: "server" })).token;
      const api = createApiRouter({ db: database.db, title: "test" });
      const config = { SLIPWAY_MAX_UPLOAD_MB: 8, SLIPWAY_MAX_UNPACKED_MB: 1, publicUrl: "http://127.0.0.1" };
      registerUploadRoutes(api, { db: database.db, config, artifacts: createLocalArtifactStore(artifactDirectory), runtimes } as unknown as AppDependencies);
      server = createServer((req, res) => {
        if (!api.handle(req, res)) res.writeHead(404).end();
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      const address = server.address() as { port: number };
      url = `http://127.0.0.1:${address.port}/v1/functions/${fn.id}/deployments`;
    });

    after(async () => {
      await new Promise((resolve) => server?.close(resolve));
      await database?.drop();
      await rm(artifactDirectory, { recursive: true, force: true });
    });

    const post = async (archive: Buffer) => {
      const response = await fetch(url, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/gzip" }, body: new Uint8Array(archive) });
      return { status: response.status, error: ((await response.json()) as { error: string }).error };
    };

    test("an upload with a symlink chain gets a 400 with the reason, and is not kept", async () => {
      assert.deepEqual(await post(await targz(chain)), { status: 400, error: "the link 'e' points outside the upload ('d/..', through 'd' -> '.')" });
      assert.deepEqual(await post(await targz([{ name: "index.js" }, { name: "pipe", type: "fifo" }])), {
        status: 400,
        error: "the archive entry 'pipe' is a FIFO (named pipe); only regular files, directories and symbolic links inside the upload are allowed",
      });
      assert.deepEqual(await post(await zeroFileBomb(8 * megabyte)), { status: 400, error: "the unpacked upload is larger than 1 MB (SLIPWAY_MAX_UNPACKED_MB)" });
      const kept = (await readdir(artifactDirectory, { recursive: true })).filter((name) => name.endsWith(".tar.gz"));
      assert.deepEqual(kept, []);
      const deployments = await database.db.query("select count(*)::int as n from deployments");
      assert.equal(deployments.rows[0].n, 0);
    });
  });
});
