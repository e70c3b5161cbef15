// Owns the rules every archive Slipway accepts must follow, a build's code.tar.gz and an
// uploaded source alike, checked as the filesystem the archive becomes rather than as a list
// of names:
// - an entry is a regular file, a directory or a symbolic link (a hard link only where the
//   caller allows it); never a device, a FIFO or anything else;
// - no name is absolute or has a '..' part, nothing lies under a link, nothing is given twice;
// - every link is resolved from the archive's root as the kernel would, through any chain of
//   links, and must stay inside the root and end; a hard link names an earlier regular file
//   from the root, which is how tar means it, not from the entry's folder;
// - the unpacked size is bounded while the archive streams: declared file sizes are summed
//   at each header, and the tar stream itself may not outgrow them, so a small gzip that
//   unpacks to gigabytes is stopped at its limit rather than at its end.
// Paths are walked over a tree of nodes, and each link is resolved once, so even an archive
// built to be slow to check costs time in proportion to its headers.
import { Transform } from "node:stream";
import type { Header } from "tar-stream";

export class ArchiveRuleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ArchiveRuleError";
  }
}

export type ArchivePolicy = {
  /** What the archive is, as messages name it: "upload", "build output". */
  noun: string;
  /** The most the regular files may add up to, unpacked (SLIPWAY_MAX_UNPACKED_MB). */
  maxUnpackedBytes: number;
  maxEntries: number;
  hardLinks: boolean;
};

type Node = {
  kind: "directory" | "file" | "link";
  /** The entry's place in the archive; a hard link may only name an earlier file. */
  order: number;
  children?: Map<string, Node>;
  /** A symbolic link's target, as written. */
  target?: string;
  /** Where a symbolic link leads, once resolved; "resolving" while it is. */
  resolved?: Frame | "resolving";
};

/** A place reached by a walk: a node (null where nothing is) and the way back up, which is where '..' goes. */
type Frame = { node: Node | null; name: string; up: Frame | null };

/** Where a walk left the root, and the links it followed to get there. */
class Escape {
  constructor(readonly through: Frame[]) {}
}

class Loop {}

// The kernel gives up after 40 links in one lookup (ELOOP); no real chain comes near it.
const maxLinkDepth = 40;
// PATH_MAX: a longer name or link target is no real file's, and a slow one to check.
const maxNameLength = 4096;
// What a tar stream may hold besides file contents, per entry: its header, long-name and pax
// records, padding. The tar end blocks and the buffering between gunzip and tar-stream come
// from the slack given for 64 entries.
const tarBytesPerEntry = 16 * 1024;

const allowedKinds: Record<string, Node["kind"]> = { file: "file", "contiguous-file": "file", directory: "directory", symlink: "link", link: "file" };
const typeNames: Record<string, string> = {
  link: "a hard link",
  "character-device": "a character device",
  "block-device": "a block device",
  fifo: "a FIFO (named pipe)",
};

export function describeSize(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${Math.round(bytes / 1024 / 1024)} MB` : `${Math.round(bytes / 1024)} KB`;
}

export class ArchiveTree {
  entries = 0;
  unpackedBytes = 0;
  private readonly root: Node = { kind: "directory", order: 0, children: new Map() };
  private readonly rootFrame: Frame = { node: this.root, name: "", up: null };
  private readonly symbolicLinks: { name: string; node: Node }[] = [];
  private readonly hardLinkEntries: { name: string; target: string; order: number }[] = [];

  constructor(private readonly policy: ArchivePolicy) {}

  /** Checks one entry as its header streams past and records it; returns its name inside the archive ("" for the top folder). */
  add(header: Header): string {
    const { noun } = this.policy;
    this.entries++;
    if (this.entries > this.policy.maxEntries) throw new ArchiveRuleError(`the archive has more than ${this.policy.maxEntries} entries`);
    const name = checkedName(header.name, noun);
    const kind = allowedKinds[header.type ?? ""];
    if (!kind || (header.type === "link" && !this.policy.hardLinks)) {
      const allowed = this.policy.hardLinks ? "regular files, directories, symbolic links and hard links" : "regular files, directories and symbolic links";
      throw new ArchiveRuleError(`the archive entry '${name || "."}' is ${typeNames[header.type ?? ""] ?? "an entry of an unknown type"}; only ${allowed} inside the ${noun} are allowed`);
    }
    this.unpackedBytes += header.size ?? 0;
    if (this.unpackedBytes > this.policy.maxUnpackedBytes) throw this.tooLarge();
    const parts = name === "" ? [] : name.split("/");
    const node = this.place(parts, kind);
    if (header.type === "symlink" || header.type === "link") {
      const target = header.linkname ?? "";
      const what = header.type === "link" ? "hard link" : "link";
      if (target === "") throw new ArchiveRuleError(`the ${what} '${name}' has no target`);
      if (target.length > maxNameLength) throw new ArchiveRuleError(`the ${what} '${name}' has a target longer than ${maxNameLength} characters`);
      if (target.startsWith("/")) throw new ArchiveRuleError(`the ${what} '${name}' points to the absolute path '${target}'; only links inside the ${noun} are allowed`);
      if (header.type === "symlink") {
        node.target = target;
        this.symbolicLinks.push({ name, node });
      } else {
        this.hardLinkEntries.push({ name, target, order: node.order });
      }
    }
    return name;
  }

  /** Counts the tar stream between gunzip and the tar reader, and stops it once it outgrows what its entries explain. */
  meter(): Transform {
    let seen = 0;
    return new Transform({
      transform: (chunk: Buffer, _encoding, done) => {
        seen += chunk.length;
        if (seen > this.policy.maxUnpackedBytes + (this.entries + 64) * tarBytesPerEntry) return done(this.tooLarge());
        done(null, chunk);
      },
    });
  }

  /** Once every entry is in: resolves every link from the root; throws at the first that escapes or never ends. */
  finish(): void {
    const { noun } = this.policy;
    for (const link of this.symbolicLinks) {
      try {
        this.resolveLink(link.node, this.walk(this.rootFrame, parentParts(link.name), true, 0, []), 0, []);
      } catch (error) {
        if (error instanceof Escape) throw new ArchiveRuleError(`the link '${link.name}' points outside the ${noun} ('${link.node.target}'${describeThrough(error)})`);
        if (error instanceof Loop) throw new ArchiveRuleError(`the link '${link.name}' never resolves: it is part of a loop, or of a chain of more than ${maxLinkDepth} links ('${link.node.target}')`);
        throw error;
      }
    }
    for (const link of this.hardLinkEntries) {
      let found: Frame;
      try {
        // link(2) follows links on the way, not the last one: a hard link to a link is a link.
        found = this.walk(this.rootFrame, link.target.split("/"), true, 0, []);
      } catch (error) {
        if (error instanceof Escape) throw new ArchiveRuleError(`the hard link '${link.name}' points outside the ${noun} ('${link.target}'${describeThrough(error)})`);
        if (error instanceof Loop) throw new ArchiveRuleError(`the hard link '${link.name}' never resolves: it goes through a loop of links ('${link.target}')`);
        throw error;
      }
      if (found.node?.kind !== "file" || found.node.order >= link.order) {
        throw new ArchiveRuleError(`the hard link '${link.name}' points to '${link.target}', which is not a regular file earlier in the ${noun}`);
      }
    }
  }

  /** What `path` is, from the root with links followed, once finish() has passed. */
  find(path: string): "file" | "directory" | "missing" | "outside" {
    if (path.startsWith("/") || path.includes("\0")) return "outside";
    try {
      const node = this.walk(this.rootFrame, path.split("/"), false, 0, []).node;
      return node?.kind === "file" ? "file" : node?.kind === "directory" ? "directory" : "missing";
    } catch (error) {
      if (error instanceof Escape) return "outside";
      if (error instanceof Loop) return "missing";
      throw error;
    }
  }

  private tooLarge(): ArchiveRuleError {
    return new ArchiveRuleError(`the unpacked ${this.policy.noun} is larger than ${describeSize(this.policy.maxUnpackedBytes)} (SLIPWAY_MAX_UNPACKED_MB)`);
  }

  /** Puts an entry into the tree: every folder on its way must be a folder, and its own place free (a folder may be named again). */
  private place(parts: string[], kind: Node["kind"]): Node {
    if (parts.length === 0) {
      if (kind !== "directory") throw conflict(".", "directory", kind);
      return this.root;
    }
    let directory = this.root;
    for (let index = 0; index < parts.length - 1; index++) {
      let child = directory.children!.get(parts[index]!);
      if (!child) {
        child = { kind: "directory", order: this.entries, children: new Map() };
        directory.children!.set(parts[index]!, child);
      } else if (child.kind !== "directory") {
        throw conflict(parts.slice(0, index + 1).join("/"), child.kind, "directory");
      }
      directory = child;
    }
    const last = parts[parts.length - 1]!;
    const existing = directory.children!.get(last);
    if (existing) {
      if (existing.kind === "directory" && kind === "directory") return existing;
      throw conflict(parts.join("/"), existing.kind, kind);
    }
    const node: Node = kind === "directory" ? { kind, order: this.entries, children: new Map() } : { kind, order: this.entries };
    directory.children!.set(last, node);
    return node;
  }

  /**
   * Walks `parts` from `from` as the kernel looks a path up: '..' goes to the real parent,
   * and every symbolic link on the way is replaced by where it leads (the last one too,
   * unless `keepLast`). A place with nothing there is walked on by name; '..' above the
   * root throws Escape.
   */
  private walk(from: Frame, parts: string[], keepLast: boolean, depth: number, through: Frame[]): Frame {
    let lastPart = parts.length - 1;
    while (lastPart >= 0 && (parts[lastPart] === "" || parts[lastPart] === ".")) lastPart--;
    let at = from;
    for (let index = 0; index <= lastPart; index++) {
      const part = parts[index]!;
      if (part === "" || part === ".") continue;
      if (part === "..") {
        if (!at.up) throw new Escape(through);
        at = at.up;
        continue;
      }
      const node = at.node?.children?.get(part) ?? null;
      const next: Frame = { node, name: part, up: at };
      if (node?.kind === "link" && !(keepLast && index === lastPart)) {
        through.push(next);
        at = this.resolveLink(node, at, depth + 1, through);
      } else {
        at = next;
      }
    }
    return at;
  }

  /** Where the link `node`, in the folder `parent`, leads; worked out once. */
  private resolveLink(node: Node, parent: Frame, depth: number, through: Frame[]): Frame {
    if (node.resolved === "resolving" || depth > maxLinkDepth) throw new Loop();
    if (node.resolved) return node.resolved;
    node.resolved = "resolving";
    const resolved = this.walk(parent, node.target!.split("/"), false, depth, through);
    node.resolved = resolved;
    return resolved;
  }
}

/** The entry's name inside the archive, without './' and trailing '/', or why it is refused. */
function checkedName(raw: string, noun: string): string {
  if (raw.includes("\0")) throw new ArchiveRuleError("the archive has an entry with a NUL byte in its name");
  if (raw.length > maxNameLength) throw new ArchiveRuleError(`the archive entry '${raw.slice(0, 80)}…' has a name longer than ${maxNameLength} characters`);
  const shown = raw.replace(/^(\.\/)+/, "").replace(/\/+$/, "");
  if (shown.startsWith("/")) throw new ArchiveRuleError(`the archive entry '${shown}' has an absolute path`);
  const parts = shown.split("/").filter((part) => part !== "" && part !== ".");
  if (parts.includes("..")) throw new ArchiveRuleError(`the archive entry '${shown}' climbs out of the ${noun} with '..'`);
  return parts.join("/");
}

function parentParts(name: string): string[] {
  return name.split("/").slice(0, -1);
}

function conflict(path: string, had: Node["kind"], added: Node["kind"]): ArchiveRuleError {
  if (had === added) return new ArchiveRuleError(`the archive holds '${path}' twice`);
  if (had === "link" || added === "link") return new ArchiveRuleError(`the archive holds '${path}' both as a link and as a file or directory`);
  return new ArchiveRuleError(`the archive holds '${path}' both as a file and as a directory`);
}

function pathOf(frame: Frame): string {
  const names: string[] = [];
  for (let at: Frame | null = frame; at?.up; at = at.up) names.unshift(at.name);
  return names.join("/");
}

function describeThrough(escape: Escape): string {
  if (escape.through.length === 0) return "";
  return `, through ${escape.through.map((frame) => `'${pathOf(frame)}' -> '${frame.node!.target}'`).join(", ")}`;
}
