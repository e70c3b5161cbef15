// Owns finding out whether the host firewall rules of scripts/sandbox-firewall.sh are in
// place, without root: a short-lived container on the sandbox network tries the host (the
// network's gateway address) and a link-local address. The rules refuse both at once with
// "No route to host"; without them the host answers or refuses, and link-local answers or hangs.
import type Docker from "dockerode";
import type { SandboxNetwork } from "./sandbox-networks.js";

export type SandboxFirewallCheck = { inPlace: boolean; detail: string };

// bash's /dev/tcp, because every open-runtimes image has bash and not every one has curl.
const probeScript = `
for target in "$@"; do
  if error=$( (exec 3<>"/dev/tcp/\${target%:*}/\${target#*:}") 2>&1 ); then echo "$target answered"
  else echo "$target \${error##*: }"; fi
done
`;

export async function checkSandboxFirewall(docker: Docker, network: SandboxNetwork, image: string, timeoutMs = 20_000): Promise<SandboxFirewallCheck> {
  const info = (await docker.getNetwork(network.name).inspect()) as Docker.NetworkInspectInfo;
  const gateway = info.IPAM?.Config?.[0]?.Gateway;
  if (!gateway) return { inPlace: false, detail: `the network '${network.name}' has no gateway address` };
  const targets = [`${gateway}:9`, "169.254.169.254:80"];
  // AutoRemove: the daemon removes it even when this process dies mid-probe.
  const container = await docker.createContainer({
    Image: image,
    Entrypoint: ["bash", "-c", probeScript, "slipway-sandbox-probe"],
    Cmd: targets,
    Labels: { "slipway.role": "sandbox-probe" },
    Tty: true,
    HostConfig: { NetworkMode: network.name, AutoRemove: true, Memory: 64 * 1024 * 1024, CapDrop: ["ALL"], SecurityOpt: ["no-new-privileges"] },
  });
  try {
    // With a TTY the stream is the plain text, not Docker's multiplexed frames; it ends when the container exits.
    const stream = await container.attach({ stream: true, stdout: true, stderr: true });
    let text = "";
    stream.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")));
    const ended = new Promise<true>((resolve) => {
      for (const event of ["end", "close", "error"]) stream.on(event, () => resolve(true));
    });
    await container.start();
    const finished = await Promise.race([ended, new Promise<false>((resolve) => setTimeout(() => resolve(false), timeoutMs).unref())]);
    if (!finished) await container.kill().catch(() => {});
    const lines = text.replace(/\r/g, "").trim().split("\n").filter(Boolean);
    const refused = lines.filter((line) => /no route to host/i.test(line));
    if (finished && refused.length === targets.length) return { inPlace: true, detail: lines.join("; ") };
    return { inPlace: false, detail: finished ? lines.join("; ") : `${lines.join("; ") || "no answer"} (a probe hung, so some target was not refused)` };
  } finally {
    await container.remove({ force: true }).catch(() => {});
  }
}
