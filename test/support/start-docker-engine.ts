// Starts a second Docker engine on this machine for a test that needs two nodes on one host:
// a dockerd with its own data root, exec root (so its own containerd), pid file, socket and
// address pool, and a default bridge of its own (<name>-br, made here with `ip link`), so it
// never touches docker0, the main engine's networks or containers. (Not --bridge=none: a
// dockerd without a default bridge deletes the interface named docker0 when it starts, which
// is the main engine's.) It runs with --iptables=false: a dockerd that manages
// iptables removes and remakes Docker's chains when it starts, which would drop the main
// engine's rules. Published ports then go through docker-proxy, which is all Slipway's
// gateway uses (it calls runtimes at SLIPWAY_RUNTIME_HOST:<published port>); containers of
// this engine do not reach the internet (no masquerading), which builds without
// dependencies do not need.
//
// The daemon, its containerd, the shims and every container run in a cgroup of their own
// (v1 pids controller, or v2), so `kill()` SIGKILLs them all, as when a machine dies.
// `stop()` cleans everything up (also after `kill()`): containers, networks, the daemon, its
// folder, cgroups, bridges and their firewall rules. An engine whose test process died without
// stop() is cleaned up by the next start of any engine; engines of live processes are left alone,
// so test files may run at once (give each engine its own name and bridges).
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, rmdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import Docker from "dockerode";

const run = promisify(execFile);

export type DockerEngineOptions = {
  /** Short and unique on the machine (it names the cgroup and the temp folders): "swe-a". */
  name: string;
  /** The address pool its networks come from (default: a free 10.2xx.0.0/16 of this host). */
  addressPool?: string;
  /** Images of the main engine to copy into it (docker save | docker load). */
  images: string[];
  /**
   * The bridge names its Slipway processes get (SLIPWAY_BUILD_BRIDGE, SLIPWAY_RUNTIME_BRIDGE),
   * unique on the host: scripts/sandbox-firewall.sh installs their rules at start, and stop()
   * removes those rules and the bridges (which a killed engine leaves).
   */
  sandboxBridges?: { build: string; runtime: string };
};

export type DockerEngine = {
  /** unix://… for DOCKER_HOST. */
  host: string;
  /** The address pool its networks' subnets come from. */
  addressPool: string;
  /** Its --data-root (volumes/<name>/_data holds a volume's files, also after kill()). */
  dataRoot: string;
  docker: Docker;
  /** SIGKILLs the daemon, its containerd and every container at once (a machine dying). */
  kill(): Promise<void>;
  stop(): Promise<void>;
};

// cgroup v2 (unified) or v1's pids controller: either lists every process of a subtree.
function cgroupRoot(): { path: string; v2: boolean } {
  if (existsSync("/sys/fs/cgroup/cgroup.controllers")) return { path: "/sys/fs/cgroup", v2: true };
  if (existsSync("/sys/fs/cgroup/pids/tasks")) return { path: "/sys/fs/cgroup/pids", v2: false };
  throw new Error("neither cgroup v2 nor v1's pids controller is mounted at /sys/fs/cgroup; a second Docker engine cannot be contained");
}

async function processesUnder(dir: string): Promise<number[]> {
  if (!existsSync(dir)) return [];
  const pids = (await readFile(join(dir, "cgroup.procs"), "utf8").catch(() => "")).split("\n").filter(Boolean).map(Number);
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    if (entry.isDirectory()) pids.push(...(await processesUnder(join(dir, entry.name))));
  }
  return pids;
}

/** The engine's cgroup in every v1 controller Docker made it in (v2: the one tree). */
async function removeAllCgroups(cgroupDir: string, name: string): Promise<void> {
  await removeCgroups(cgroupDir);
  if (cgroupDir.startsWith("/sys/fs/cgroup/pids/")) {
    for (const controller of await readdir("/sys/fs/cgroup").catch(() => [])) await removeCgroups(join("/sys/fs/cgroup", controller, `slipway-engine-${name}`));
  }
}

async function removeCgroups(dir: string): Promise<void> {
  if (!existsSync(dir)) return;
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    if (entry.isDirectory()) await removeCgroups(join(dir, entry.name));
  }
  await rmdir(dir).catch(() => {});
}

/** SIGKILLs every process in the subtree until none is left (a dying one may fork once more). */
async function killCgroup(dir: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const pids = await processesUnder(dir);
    if (pids.length === 0) return;
    if (Date.now() > deadline) throw new Error(`processes ${pids.join(", ")} of ${dir} outlived SIGKILL`);
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {}
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Unmounts (lazily, deepest first) whatever a killed engine left mounted under `prefix`. */
async function unmountUnder(prefix: string): Promise<void> {
  const mounts = (await readFile("/proc/self/mounts", "utf8"))
    .split("\n")
    .map((line) => line.split(" ")[1]?.replace(/\\040/g, " "))
    .filter((point): point is string => !!point && point.startsWith(prefix))
    .sort((a, b) => b.length - a.length);
  for (const point of mounts) await run("umount", ["-l", point]).catch(() => {});
}

async function deleteLink(name: string): Promise<void> {
  await run("ip", ["link", "delete", name]).catch(() => {});
}

// Each engine's folder is /tmp/slipway-engine-<name>-XXXXXX, and its engine.json says which
// process started it, so a later start cleans up after a run that died without stop().
const dirPrefix = "slipway-engine-";
type EngineRecord = { owner: number; name: string; sandboxBridges?: { build: string; runtime: string } | undefined; addressPool: string; defaultBridge?: string };
const firewallScript = fileURLToPath(new URL("../../scripts/sandbox-firewall.sh", import.meta.url));
const firewallEnv = (bridges: { build: string; runtime: string }) => ({ ...process.env, SLIPWAY_BUILD_BRIDGE: bridges.build, SLIPWAY_RUNTIME_BRIDGE: bridges.runtime });

async function cleanUp(dir: string, record: EngineRecord): Promise<void> {
  const cgroupDir = join(cgroupRoot().path, `${dirPrefix}${record.name}`);
  await killCgroup(cgroupDir);
  await unmountUnder(`${dir}/`);
  await rm(dir, { recursive: true, force: true });
  if (record.sandboxBridges) {
    await run("bash", [firewallScript, "--remove"], { env: firewallEnv(record.sandboxBridges) }).catch((error: Error) => console.warn(`removing the firewall rules of ${record.name}'s bridges: ${error.message}`));
    for (const bridge of Object.values(record.sandboxBridges)) await deleteLink(bridge);
  }
  if (record.defaultBridge) await deleteLink(record.defaultBridge);
  await removeAllCgroups(cgroupDir, record.name);
}

/** Running, not a zombie waiting to be reaped. */
async function alive(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => null);
  return stat !== null && stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
}

/** Engines of this machine started by processes that are gone: cleaned up. Live ones: their records. */
async function sweepEngines(): Promise<EngineRecord[]> {
  const live: EngineRecord[] = [];
  for (const entry of await readdir("/tmp")) {
    if (!entry.startsWith(dirPrefix)) continue;
    const dir = join("/tmp", entry);
    const record = await readFile(join(dir, "engine.json"), "utf8").then((text) => JSON.parse(text) as EngineRecord, () => null);
    if (!record) continue;
    if (await alive(record.owner)) live.push(record);
    else await cleanUp(dir, record);
  }
  return live;
}

/** A 10.2xx.0.0/16 that no route of this host and no other test engine uses, picked at random. */
async function freeAddressPool(others: EngineRecord[]): Promise<string> {
  const routes = (await run("ip", ["-4", "route"])).stdout;
  const taken = (second: number) => routes.includes(`10.${second}.`) || others.some((o) => o.addressPool.startsWith(`10.${second}.`));
  const free = Array.from({ length: 50 }, (_, i) => 200 + i).filter((second) => !taken(second));
  if (free.length === 0) throw new Error("no free 10.200-249.0.0/16 range on this host for a second Docker engine");
  return `10.${free[Math.floor(Math.random() * free.length)]}.0.0/16`;
}

export async function startDockerEngine(options: DockerEngineOptions): Promise<DockerEngine> {
  if (!/^[a-z0-9-]{1,12}$/.test(options.name)) throw new Error(`engine name '${options.name}': use 1-12 lowercase letters, digits or '-'`);
  const cgroup = cgroupRoot();
  const others = await sweepEngines();
  if (others.some((o) => o.name === options.name)) throw new Error(`a second Docker engine named '${options.name}' is running already (started by process ${others.find((o) => o.name === options.name)!.owner}); name yours differently`);
  const cgroupDir = join(cgroup.path, `${dirPrefix}${options.name}`);
  const addressPool = options.addressPool ?? (await freeAddressPool(others));
  const record: EngineRecord = { owner: process.pid, name: options.name, sandboxBridges: options.sandboxBridges, addressPool, defaultBridge: `${options.name}-br` };
  const dir = await mkdtemp(join("/tmp", `${dirPrefix}${options.name}-`));
  await writeFile(join(dir, "engine.json"), JSON.stringify(record));
  // Its default bridge, on the pool's last /24 (the engine then allocates around it).
  const [a, b] = addressPool.split(".");
  const defaultBridge = record.defaultBridge!;
  await deleteLink(defaultBridge);
  await run("ip", ["link", "add", "name", defaultBridge, "type", "bridge"]);
  await run("ip", ["addr", "add", `${a}.${b}.255.1/24`, "dev", defaultBridge]);
  await run("ip", ["link", "set", defaultBridge, "up"]);

  // Short paths: containerd's sockets live under the exec root, and a socket path has at most 107 bytes.
  const socket = join(dir, "docker.sock");
  const daemonCgroup = join(cgroupDir, "daemon");
  await mkdir(daemonCgroup, { recursive: true });
  await writeFile(join(dir, "daemon.json"), "{}\n");
  const args = [
    `--config-file=${join(dir, "daemon.json")}`,
    `--data-root=${join(dir, "data")}`,
    `--exec-root=${join(dir, "exec")}`,
    `--pidfile=${join(dir, "docker.pid")}`,
    `--host=unix://${socket}`,
    `--bridge=${defaultBridge}`,
    "--iptables=false",
    "--ip6tables=false",
    "--ip-forward=false",
    `--default-address-pool=base=${record.addressPool},size=24`,
    // Containers go under the engine's cgroup, next to the daemon's.
    `--cgroup-parent=/slipway-engine-${options.name}`,
    ...(cgroup.v2 ? [] : ["--exec-opt=native.cgroupdriver=cgroupfs"]),
    "--log-level=warn",
  ];
  // The shell joins the cgroup first, so the daemon and all it starts are in it.
  let output = "";
  const daemon: ChildProcess = spawn("sh", ["-c", `echo $$ > "$1/cgroup.procs" && shift && exec dockerd "$@"`, "sh", daemonCgroup, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-8000);
  };
  daemon.stdout!.on("data", collect);
  daemon.stderr!.on("data", collect);
  const docker = new Docker({ socketPath: socket });
  const stop = async () => {
    if (daemon.exitCode === null && daemon.signalCode === null) {
      // Its containers first (their networks and bridges go with a clean shutdown), then the daemon.
      const containers = await docker.listContainers({ all: true }).catch(() => []);
      await Promise.all(containers.map((c) => docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => {})));
      const networks = await docker.listNetworks().catch(() => []);
      await Promise.all(networks.filter((n) => !["none", "host"].includes(n.Name)).map((n) => docker.getNetwork(n.Id).remove().catch(() => {})));
      const exited = new Promise((r) => daemon.once("exit", r));
      daemon.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
    }
    await cleanUp(dir, record);
  };
  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (daemon.exitCode !== null) throw new Error(`dockerd exited with ${daemon.exitCode}:\n${output}`);
      if (await docker.ping().then(() => true, () => false)) break;
      if (Date.now() > deadline) throw new Error(`dockerd did not answer on ${socket} within 60 s:\n${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    for (const image of options.images) {
      // docker save | docker -H … load, streamed.
      await new Promise<void>((resolve, reject) => {
        const save = spawn("docker", ["save", image], { stdio: ["ignore", "pipe", "pipe"] });
        const load = spawn("docker", ["-H", `unix://${socket}`, "load", "-q"], { stdio: ["pipe", "pipe", "pipe"] });
        let errors = "";
        save.stderr!.on("data", (chunk: Buffer) => (errors += chunk.toString()));
        load.stderr!.on("data", (chunk: Buffer) => (errors += chunk.toString()));
        save.stdout!.pipe(load.stdin!);
        const exit = (child: ChildProcess) => new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
        void Promise.all([exit(save), exit(load)]).then(([saved, loaded]) =>
          saved === 0 && loaded === 0 ? resolve() : reject(new Error(`copying ${image} into the second engine failed (save ${saved}, load ${loaded}): ${errors}`)),
        );
      });
    }
    if (record.sandboxBridges) await run("bash", [firewallScript], { env: firewallEnv(record.sandboxBridges) });
  } catch (error) {
    await stop().catch(() => {});
    throw error;
  }
  return {
    host: `unix://${socket}`,
    dataRoot: join(dir, "data"),
    addressPool: record.addressPool,
    docker,
    async kill() {
      await killCgroup(cgroupDir);
    },
    stop,
  };
}
